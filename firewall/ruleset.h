// firewall/ruleset.h — one VM's rules, compiled for classifying new flows (first match wins).
//
// A RuleSet is built from the VM's ordered rule list (Qubes syntax, firewall/rule.h), the
// virtual DNS addresses (for specialtarget=dns) and the addresses its dsthost names resolved
// to. classify() returns the action and the deciding rule, or the policy (drop) when no rule
// matches. Fail closed: while any dsthost of the list is unresolved, every flow is dropped
// and the result says which name (QUBES-SEMANTICS.md: the Linux agent does the same).
//
// Matching (QUBES-SEMANTICS.md): proto=tcp|udp|icmp (icmp means ICMPv6 for IPv6 flows), a
// destination network, host or the DNS addresses (port 53, tcp or udp), dstports for tcp/udp,
// icmptype for icmp. A rule with a destination of one family never matches the other family.
//
// Speed: rules are indexed by destination prefix (one hash lookup per distinct prefix length
// present), so a new flow only looks at rules whose destination covers it plus the rules
// without a destination; within those, first match in order. Rules are pure data: no I/O.
//   RuleSet rs = RuleSet::build(rules, {dns1, dns2}, resolved);
//   Decision d = rs.classify(FlowQuery{...});   // d.action, d.rule (0-based) or nullopt
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "firewall/rule.h"
#include "packet/addr.h"

namespace xfw::firewall {

// What the rules look at: the first packet of a new flow.
struct FlowQuery {
  bool v6 = false;
  uint8_t proto = 0;  // IP protocol number
  packet::Ipv4Addr dst4;
  packet::Ipv6Addr dst6;
  uint16_t dport = 0;     // tcp/udp
  uint8_t icmp_type = 0;  // icmp/icmpv6
};

enum class Why : uint8_t {
  rule,             // rule `rule` decided
  policy,           // no rule matched: the policy (drop)
  unresolved_host,  // a dsthost of this VM's rules is not resolved: fail closed
  invalid,          // the VM's rules could not be read (QubesDB): fail closed
};

struct Decision {
  Action action = Action::drop;
  std::optional<uint32_t> rule;  // index in the VM's list (0-based, as QubesDB's NNNN keys)
  Why why = Why::policy;
  std::string host;              // the unresolved name (unresolved_host), or why (invalid)
};

struct Resolved {  // a host name's addresses, as the resolver last returned them
  std::vector<packet::Ipv4Addr> v4;
  std::vector<packet::Ipv6Addr> v6;
  friend bool operator==(const Resolved&, const Resolved&) = default;
};

class RuleSet {
 public:
  RuleSet() = default;  // no rules: everything goes to the policy (drop)
  static RuleSet build(const std::vector<Rule>& rules,
                       const std::vector<packet::Ipv4Addr>& dns_addrs,
                       const std::map<std::string, Resolved>& resolved);

  // Rules that could not be read: every flow is dropped, with `why`.
  static RuleSet refused(std::string why);

  [[nodiscard]] Decision classify(const FlowQuery& q) const;
  [[nodiscard]] std::size_t size() const { return actions_.size(); }

 private:
  struct Entry {  // one rule's non-address conditions
    uint32_t index;
    uint8_t proto;  // 0 = any; else the IP protocol number for this family
    bool ported;    // dstports given (or port 53 of specialtarget=dns)
    uint16_t port_lo, port_hi;
    int16_t icmp_type;  // -1 = any
  };
  struct PrefixKey {  // a network: the address with host bits cleared, and its length
    std::array<uint8_t, 16> addr{};
    uint8_t len = 0;
    friend bool operator==(const PrefixKey&, const PrefixKey&) = default;
  };
  struct PrefixHash {
    std::size_t operator()(const PrefixKey& k) const;
  };
  struct Family {
    std::vector<uint8_t> lengths;  // distinct prefix lengths present, longest first
    std::unordered_map<PrefixKey, std::vector<Entry>, PrefixHash> by_prefix;
  };
  static bool matches(const Entry& e, const FlowQuery& q);
  void first_match(const std::vector<Entry>& list, const FlowQuery& q, uint32_t& best) const;
  template <std::size_t N>
  void lookup(const Family& fam, const std::array<uint8_t, N>& addr, const FlowQuery& q,
              uint32_t& best) const;

  std::vector<Action> actions_;
  std::vector<Entry> any_dst_;
  Family v4_, v6_;
  std::string unresolved_;
  std::string invalid_;
};

[[nodiscard]] const char* name(Why w);

}  // namespace xfw::firewall
