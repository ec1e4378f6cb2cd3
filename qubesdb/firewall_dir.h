// qubesdb/firewall_dir.h — one client's rules as dom0 writes them into the firewall VM's QubesDB,
// read the way Qubes' own firewall agent (qubesagent/firewall.py) reads them.
//
//   /qubes-firewall/10.137.0.5/policy = drop                    accept | drop
//   /qubes-firewall/10.137.0.5/0000   = action=accept proto=tcp dstports=443-443
//   /qubes-firewall/10.137.0.5/0002   = action=accept specialtarget=dns
//   /qubes-firewall/10.137.0.5        =                         "update complete"
// Rules are taken in NNNN order; numbers may skip (dom0 leaves out the other address family's
// rules and expired ones but keeps counting), words in any order. A missing policy, any other
// key, or a rule that does not parse refuses the whole directory: that client's traffic is then
// dropped, and `error` says why (fail closed, as the agent does).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "firewall/rule.h"

namespace xfw::qubesdb {

inline constexpr std::string_view kFirewallRoot = "/qubes-firewall/";
inline constexpr std::size_t kMaxRulesPerClient = 4096;

struct FirewallDir {
  std::vector<firewall::Rule> rules;  // the rules, then action=accept for policy accept
  std::string error;                  // non-empty: refused, drop everything from the client
  std::string error_key;              // the key that is wrong ("0003", "policy", "")
  friend bool operator==(const FirewallDir&, const FirewallDir&) = default;
};

// `leaves`: key below the client's directory ("policy", "0000", ...) -> value.
[[nodiscard]] FirewallDir parse_firewall_dir(const std::map<std::string, std::string>& leaves);

// A client directory's name: an IPv4 or IPv6 address in its canonical text form.
[[nodiscard]] bool valid_client_address(std::string_view s);

}  // namespace xfw::qubesdb
