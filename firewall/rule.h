// firewall/rule.h — one firewall rule in the Qubes syntax (QUBES-SEMANTICS.md), parsed strictly.
//
//   action=accept proto=tcp dst4=192.0.2.0/24 dstports=443-443
//   action=drop dsthost=example.com
//   action=accept specialtarget=dns
//   action=accept proto=icmp icmptype=8
//   action=accept proto=tcp dstports=22 dsthost=192.0.2.7 expire=+3600 comment=until the demo
// Words are key=value separated by single spaces, in any order. `action` is required; every
// other key at most once; dst4, dst6, dsthost and specialtarget exclude each other; dstports
// (one port or LOW-HIGH) needs proto=tcp|udp, icmptype needs proto=icmp; CIDRs have no host bits
// set. As qvm-firewall takes them: dsthost may hold an address or network (it becomes dst4 or
// dst6), else an RFC 1123 host name; expire= is a UNIX time or +SECONDS from `now` (the rule is
// removed when it passes); comment= is the rest of the rule, spaces included (so it is last).
// An error names the word that is wrong and why; format_error() draws a caret under it:
//   action=accept proto=tcp dstports=443-80
//                           ^^^^^^^^^^^^^^^ dstports: low port 443 is above high port 80
// to_string() gives the canonical form (the order dom0 writes into QubesDB, expire= absolute),
// which parses back to the same rule.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "packet/addr.h"

namespace xfw::firewall {

enum class Action : uint8_t { accept, drop };
enum class Proto : uint8_t { tcp, udp, icmp };

struct Cidr4 {
  packet::Ipv4Addr addr;
  uint8_t len = 32;
  friend bool operator==(const Cidr4&, const Cidr4&) = default;
};
struct Cidr6 {
  packet::Ipv6Addr addr;
  uint8_t len = 128;
  friend bool operator==(const Cidr6&, const Cidr6&) = default;
};
struct DnsTarget {  // specialtarget=dns: the virtual DNS addresses, port 53
  friend bool operator==(const DnsTarget&, const DnsTarget&) = default;
};
struct PortRange {
  uint16_t lo = 1, hi = 65535;
  friend bool operator==(const PortRange&, const PortRange&) = default;
};

struct Rule {
  Action action = Action::drop;
  std::optional<Proto> proto;
  // Destination: any, an IPv4 or IPv6 network, a host name (resolved later), or DNS.
  std::variant<std::monostate, Cidr4, Cidr6, std::string, DnsTarget> dst;
  std::optional<PortRange> ports;
  std::optional<uint8_t> icmp_type;
  std::optional<int64_t> expire;  // UNIX time after which the rule is gone
  std::string comment;
  friend bool operator==(const Rule&, const Rule&) = default;
};

// "action=accept": what policy accept and vms_without_rules = "accept" append.
[[nodiscard]] inline Rule accept_all() {
  Rule r;
  r.action = Action::accept;
  return r;
}

struct RuleError {
  std::size_t offset = 0;  // of the bad word in the rule text
  std::size_t length = 0;
  std::string message;     // "dstports: low port 443 is above high port 80"
};

[[nodiscard]] int64_t wall_seconds();  // now, as a UNIX time
[[nodiscard]] std::variant<Rule, RuleError> parse_rule(std::string_view text, int64_t now = wall_seconds());
[[nodiscard]] std::string to_string(const Rule& r);
// Why `h` is not an RFC 1123 host name (as dsthost= takes them), or nullopt.
[[nodiscard]] std::optional<std::string> hostname_error(std::string_view h);
[[nodiscard]] std::string to_string(const Cidr4& c);  // "192.0.2.0/24"
[[nodiscard]] std::string to_string(const Cidr6& c);
[[nodiscard]] std::string format_error(std::string_view text, const RuleError& e);

}  // namespace xfw::firewall
