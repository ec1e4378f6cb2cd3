// xen/parse.h — strict parsing of XenStore values (NETBACK-HARDENING.md item 17).
//
// Every value a guest or the toolstack wrote is parsed here: the whole string must match, numbers
// are decimal without sign, whitespace or trailing garbage, and range-checked. Anything else is
// nullopt, and callers refuse to connect rather than guess.
//   parse_uint("42", 100) == 42;  parse_uint("42 ", 100), parse_uint("+1", 9) == nullopt
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "packet/addr.h"
#include "xen/types.h"

namespace xfw::xen {

[[nodiscard]] std::optional<uint64_t> parse_uint(std::string_view s, uint64_t max);
[[nodiscard]] std::optional<bool> parse_bool01(std::string_view s);  // exactly "0" or "1"
[[nodiscard]] std::optional<DomId> parse_domid(std::string_view s);  // < 0x7FF0
[[nodiscard]] std::optional<GrantRef> parse_grant_ref(std::string_view s);
[[nodiscard]] std::optional<EvtchnPort> parse_evtchn_port(std::string_view s);  // 1..2^17-1

// xenbus states (xen/io/xenbus.h): Unknown=0 ... Reconfigured=8.
enum class XenbusState : uint8_t {
  unknown = 0,
  initialising = 1,
  init_wait = 2,
  initialised = 3,
  connected = 4,
  closing = 5,
  closed = 6,
  reconfiguring = 7,
  reconfigured = 8,
};
[[nodiscard]] std::optional<XenbusState> parse_xenbus_state(std::string_view s);
[[nodiscard]] const char* to_string(XenbusState s);

// Backend key `rate`: "BYTES,USEC" — at most BYTES bytes per USEC microseconds.
struct Rate {
  uint64_t bytes;
  uint64_t usec;
};
[[nodiscard]] std::optional<Rate> parse_rate(std::string_view s);

// Backend key `ip`: space-separated IPv4 and IPv6 addresses (at least one, at most 8).
struct IpList {
  std::vector<packet::Ipv4Addr> v4;
  std::vector<packet::Ipv6Addr> v6;
};
[[nodiscard]] std::optional<IpList> parse_ip_list(std::string_view s);

}  // namespace xfw::xen
