// Fuzz target: XenStore value parsing and the handshake fed arbitrary frontend keys.
//
// Part 1: every parser on the raw input; accepted numbers must print back to exactly the
// input (one spelling per number), and parsed addresses must print back to a form that
// parses to the same address.
// Part 2: the input, split at '|', becomes the values of the frontend keys a guest writes;
// the handshake must either connect or refuse, never crash, and leave no mapping behind
// when it refuses.
#include <string>

#include "tests/support/world.h"
#include "xen/parse.h"

using namespace xfw;

namespace {

void check_parsers(std::string_view s) {
  if (const auto v = xen::parse_uint(s, UINT64_MAX); v && std::to_string(*v) != s) __builtin_trap();
  if (const auto d = xen::parse_domid(s); d && d->value() >= xen::kDomIdFirstReserved)
    __builtin_trap();
  if (const auto p = xen::parse_evtchn_port(s); p && (p->value() == 0 || p->value() >= (1u << 17)))
    __builtin_trap();
  (void)xen::parse_grant_ref(s);
  (void)xen::parse_bool01(s);
  (void)xen::parse_xenbus_state(s);
  if (const auto r = xen::parse_rate(s); r && (r->bytes == 0 || r->usec == 0)) __builtin_trap();
  if (const auto l = xen::parse_ip_list(s)) {
    for (const auto& a : l->v4) {
      if (packet::Ipv4Addr::parse(a.str()) != a) __builtin_trap();
    }
    for (const auto& a : l->v6) {
      if (packet::Ipv6Addr::parse(a.str()) != a) __builtin_trap();
    }
  }
  if (const auto m = packet::MacAddr::parse(s); m && packet::MacAddr::parse(m->str()) != m)
    __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  check_parsers(input);

  static const char* const kKeys[] = {"tx-ring-ref",       "rx-ring-ref", "event-channel",
                                      "request-rx-copy",   "feature-rx-notify",
                                      "feature-sg",        "multi-queue-num-queues", "state"};
  testing::World w;
  auto& fe = w.add_guest(xen::DomId{5}, "fuzz", "10.137.0.5");
  w.nb.on_xenstore(w.now);
  fe.step();
  std::size_t pos = 0;
  for (const char* key : kKeys) {
    if (pos > input.size()) break;
    const auto bar = input.find('|', pos);
    const std::string value = input.substr(pos, bar == std::string::npos ? std::string::npos : bar - pos);
    check_parsers(value);
    if (value != "=") (void)fe.write_key(key, value);  // "=" keeps the netfront's own value
    pos = bar == std::string::npos ? input.size() + 1 : bar + 1;
  }
  (void)w.try_settle(2000);  // a confused guest may keep both sides busy forever
  const auto st = w.status(xen::DomId{5});
  if (st && !st->connected && w.hv.mapped_grants_of(xen::DomId{5}) != 0) __builtin_trap();
  return 0;
}
