// Fuzz target: everything xfwd reads from the QubesDB socket (a compromised daemon is hostile
// input). The input is the daemon's byte stream, cut where its first byte says; with the first
// byte odd, the answers of an empty database come first, so watch events and the reads they
// cause are reached. Never a crash; what is accepted is valid; what is sent is whole requests.
#include <cstring>

#include "qubesdb/session.h"

using namespace xfw::qubesdb;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  Session s;
  auto sent = s.start();
  const std::size_t chunk = 1 + data[0] % 97;
  if (data[0] & 1) {  // an empty database answers start()
    std::vector<std::byte> b;
    auto add = [&](Msg t) {
      const auto m = encode(t, "");
      b.insert(b.end(), m.begin(), m.end());
    };
    for (std::size_t i = 0; i < 1 + kKeys.size(); ++i) add(Msg::ok);
    add(Msg::resp_multiread);
    for (std::size_t i = 0; i < kKeys.size(); ++i) add(Msg::error_noent);
    const auto r = s.receive(b);
    sent.insert(sent.end(), r.begin(), r.end());
  }
  const auto* p = reinterpret_cast<const std::byte*>(data + 1);
  for (std::size_t at = 0; at + 1 < size; at += chunk) {
    const auto r = s.receive(std::span(p + at, std::min(chunk, size - 1 - at)));
    sent.insert(sent.end(), r.begin(), r.end());
    if (!s.error().empty()) break;
  }
  if (sent.size() % kHeaderSize != 0) __builtin_trap();  // commands carry no data
  for (const auto& [addr, dir] : s.firewall()) {
    if (!valid_client_address(addr)) __builtin_trap();
    if (!dir.error.empty() && !dir.rules.empty()) __builtin_trap();  // refused means nothing applies
  }
  (void)s.take_changes();
  return 0;
}
