// Fuzz target: a capture request from the control socket (daemon/capture.h). Even first byte:
// the rest is the request's JSON text. Odd: the rest is a raw BPF program (second byte: its
// length in instructions, then 8 bytes each) followed by a frame. Whatever capture_spec()
// accepts, bpf_filter then runs on the frame: a program bpf_validate let through never
// crashes it, and no request crashes the parser.
#include <pcap/pcap.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <vector>

#include "daemon/capture.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  nlohmann::json req;
  std::vector<uint8_t> frame;
  if (data[0] % 2 == 0) {
    req = nlohmann::json::parse(data + 1, data + size, nullptr, false);
    if (req.is_discarded() || !req.is_object()) return 0;
    frame.assign(60, 0x45);
  } else {
    const std::size_t n = data[1], need = 2 + 8 * n;
    if (size < need) return 0;
    nlohmann::json prog = nlohmann::json::array();
    for (std::size_t i = 0; i < n; ++i) {
      bpf_insn in{};
      std::memcpy(&in, data + 2 + 8 * i, 8);
      prog.push_back({in.code, in.jt, in.jf, in.k});
    }
    req = {{"target", "work"}, {"filter", prog}};
    frame.assign(data + need, data + size);
  }
  const auto spec = xfw::daemon::capture_spec(req);
  if (const auto* s = std::get_if<xfw::daemon::CaptureSpec>(&spec); s && !s->program.empty()) {
    // The frame in a buffer of exactly its size (a heap copy: reads past it are ASan's to see
    // where they come from instrumented code).
    std::vector<u_char> exact(frame.begin(), frame.end());
    (void)bpf_filter(s->program.data(), exact.data(), u_int(exact.size()), u_int(exact.size()));
  } else if (const auto* e = std::get_if<std::string>(&spec); e && e->empty()) {
    __builtin_trap();  // every refusal says why
  }
  return 0;
}
