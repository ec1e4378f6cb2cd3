#include "qubesdb/firewall_dir.h"

#include "packet/addr.h"

namespace xfw::qubesdb {

bool valid_client_address(std::string_view s) {
  if (const auto a = packet::Ipv4Addr::parse(s)) return a->str() == s;
  if (const auto a = packet::Ipv6Addr::parse(s)) return a->str() == s;
  return false;
}

FirewallDir parse_firewall_dir(const std::map<std::string, std::string>& leaves) {
  FirewallDir out;
  auto refuse = [&](std::string key, std::string why) {
    out.rules.clear();
    out.error_key = std::move(key);
    out.error = std::move(why);
    return out;
  };
  const auto policy = leaves.find("policy");
  if (policy == leaves.end()) return refuse("policy", "no policy (accept or drop) was written");
  if (policy->second != "accept" && policy->second != "drop")
    return refuse("policy", "policy must be accept or drop, got \"" + policy->second + "\"");
  std::size_t n = 0;
  for (const auto& [key, text] : leaves) {  // std::map: "0000" < "0001" < ... < "policy"
    if (key == "policy") continue;
    if (key.size() != 4 || key.find_first_not_of("0123456789") != std::string::npos)
      return refuse(key, "unexpected key " + key + " (rules are NNNN)");
    if (++n > kMaxRulesPerClient)
      return refuse(key, "more than " + std::to_string(kMaxRulesPerClient) + " rules");
    auto r = firewall::parse_rule(text);
    if (const auto* e = std::get_if<firewall::RuleError>(&r)) return refuse(key, "rule " + key + ": " + e->message);
    const auto& rule = std::get<firewall::Rule>(r);
    if (rule.expire || !rule.comment.empty())  // dom0 drops expired rules itself, keeps comments
      return refuse(key, "rule " + key + ": dom0 does not write expire= or comment=");
    out.rules.push_back(rule);
  }
  if (policy->second == "accept") out.rules.push_back(firewall::accept_all());
  return out;
}

}  // namespace xfw::qubesdb
