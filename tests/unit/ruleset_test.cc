// Rule classification: first match, policy, DNS target, dsthost (fail closed), and the prefix
// index agreeing with a plain linear scan on random rule lists.
#include <gtest/gtest.h>

#include <random>

#include "firewall/ruleset.h"
#include "packet/parse.h"

namespace xfw::firewall {
namespace {

using packet::Ipv4Addr;
using packet::Ipv6Addr;
namespace ipproto = packet::ipproto;

std::vector<Rule> rules(std::initializer_list<const char*> texts) {
  std::vector<Rule> out;
  for (const char* t : texts) {
    auto r = parse_rule(t);
    EXPECT_TRUE(std::holds_alternative<Rule>(r)) << t;
    out.push_back(std::get<Rule>(r));
  }
  return out;
}
FlowQuery v4(uint8_t proto, const char* dst, uint16_t dport = 0, uint8_t icmp_type = 0) {
  return FlowQuery{false, proto, *Ipv4Addr::parse(dst), {}, dport, icmp_type};
}
FlowQuery v6(uint8_t proto, const char* dst, uint16_t dport = 0, uint8_t icmp_type = 0) {
  return FlowQuery{true, proto, {}, *Ipv6Addr::parse(dst), dport, icmp_type};
}
const std::vector<Ipv4Addr> kDns{*Ipv4Addr::parse("10.139.1.1"), *Ipv4Addr::parse("10.139.1.2")};

TEST(RuleSet, FirstMatchWinsAndPolicyDrops) {
  const auto rs = RuleSet::build(rules({"action=drop proto=tcp dst4=192.0.2.0/24 dstports=22-22",
                                        "action=accept proto=tcp dst4=192.0.2.0/24",
                                        "action=accept proto=icmp icmptype=8"}),
                                 kDns, {});
  auto d = rs.classify(v4(ipproto::tcp, "192.0.2.9", 22));
  EXPECT_EQ(d.action, Action::drop);
  EXPECT_EQ(d.rule, 0u);
  d = rs.classify(v4(ipproto::tcp, "192.0.2.9", 443));
  EXPECT_EQ(d.action, Action::accept);
  EXPECT_EQ(d.rule, 1u);
  d = rs.classify(v4(ipproto::tcp, "192.0.3.9", 443));
  EXPECT_EQ(d.action, Action::drop);
  EXPECT_EQ(d.why, Why::policy);
  EXPECT_FALSE(d.rule);
  EXPECT_EQ(rs.classify(v4(ipproto::icmp, "198.51.100.1", 0, 8)).rule, 2u);
  EXPECT_EQ(rs.classify(v4(ipproto::icmp, "198.51.100.1", 0, 0)).why, Why::policy);
  EXPECT_EQ(rs.classify(v6(ipproto::icmpv6, "2001:db8::1", 0, 8)).rule, 2u);  // icmp = ICMPv6 too
  EXPECT_EQ(rs.classify(v4(ipproto::udp, "192.0.2.9", 53)).why, Why::policy);
}

TEST(RuleSet, NoRulesMeansPolicyDrop) {
  const RuleSet rs;
  EXPECT_EQ(rs.classify(v4(ipproto::udp, "192.0.2.1", 53)).action, Action::drop);
}

TEST(RuleSet, AcceptAllRuleAcceptsBothFamilies) {
  const auto rs = RuleSet::build(rules({"action=accept"}), kDns, {});
  EXPECT_EQ(rs.classify(v4(ipproto::udp, "192.0.2.1", 53)).action, Action::accept);
  EXPECT_EQ(rs.classify(v6(ipproto::tcp, "2001:db8::1", 80)).action, Action::accept);
}

TEST(RuleSet, FamiliesDoNotMix) {
  const auto rs = RuleSet::build(rules({"action=accept dst6=2001:db8::/32", "action=accept dst4=0.0.0.0/0"}), kDns, {});
  EXPECT_EQ(rs.classify(v6(ipproto::tcp, "2001:db8::5", 80)).rule, 0u);
  EXPECT_EQ(rs.classify(v6(ipproto::tcp, "2001:db9::5", 80)).why, Why::policy);
  EXPECT_EQ(rs.classify(v4(ipproto::tcp, "203.0.113.1", 80)).rule, 1u);
}

TEST(RuleSet, DnsTargetIsTheVirtualServersOnPort53) {
  const auto rs = RuleSet::build(rules({"action=accept specialtarget=dns",
                                        "action=accept proto=udp specialtarget=dns"}),
                                 kDns, {});
  EXPECT_EQ(rs.classify(v4(ipproto::udp, "10.139.1.1", 53)).rule, 0u);
  EXPECT_EQ(rs.classify(v4(ipproto::tcp, "10.139.1.2", 53)).rule, 0u);
  EXPECT_EQ(rs.classify(v4(ipproto::udp, "10.139.1.1", 54)).why, Why::policy);
  EXPECT_EQ(rs.classify(v4(ipproto::icmp, "10.139.1.1", 0, 8)).why, Why::policy);
  EXPECT_EQ(rs.classify(v4(ipproto::udp, "192.0.2.53", 53)).why, Why::policy);
}

TEST(RuleSet, DsthostUsesResolvedAddressesAndFailsClosedUntilResolved) {
  const auto list = rules({"action=accept proto=tcp dsthost=updates.example dstports=443-443",
                           "action=accept proto=icmp"});
  const auto pending = RuleSet::build(list, kDns, {});
  auto d = pending.classify(v4(ipproto::icmp, "192.0.2.1", 0, 8));
  EXPECT_EQ(d.action, Action::drop);  // even what rule 1 would accept
  EXPECT_EQ(d.why, Why::unresolved_host);
  EXPECT_EQ(d.host, "updates.example");
  std::map<std::string, Resolved> res;
  res["updates.example"] = Resolved{{*Ipv4Addr::parse("192.0.2.80")}, {*Ipv6Addr::parse("2001:db8::80")}};
  const auto rs = RuleSet::build(list, kDns, res);
  EXPECT_EQ(rs.classify(v4(ipproto::tcp, "192.0.2.80", 443)).rule, 0u);
  EXPECT_EQ(rs.classify(v6(ipproto::tcp, "2001:db8::80", 443)).rule, 0u);
  EXPECT_EQ(rs.classify(v4(ipproto::tcp, "192.0.2.81", 443)).why, Why::policy);
  EXPECT_EQ(rs.classify(v4(ipproto::icmp, "192.0.2.1", 0, 8)).rule, 1u);
}

// The index must agree with the obvious definition: scan the rules in order.
std::optional<uint32_t> linear(const std::vector<Rule>& list, const FlowQuery& q) {
  for (uint32_t i = 0; i < list.size(); ++i) {
    const Rule& r = list[i];
    const bool ported = q.proto == ipproto::tcp || q.proto == ipproto::udp;
    if (r.proto) {
      const uint8_t want = *r.proto == Proto::tcp ? ipproto::tcp
                           : *r.proto == Proto::udp ? ipproto::udp
                           : q.v6                  ? ipproto::icmpv6
                                                   : ipproto::icmp;
      if (want != q.proto) continue;
    }
    if (const auto* c = std::get_if<Cidr4>(&r.dst)) {
      if (q.v6 || (c->len && (q.dst4.to_host() ^ c->addr.to_host()) >> (32 - c->len))) continue;
    }
    if (r.ports && (!ported || q.dport < r.ports->lo || q.dport > r.ports->hi)) continue;
    if (r.icmp_type && q.icmp_type != *r.icmp_type) continue;
    return i;
  }
  return std::nullopt;
}

TEST(RuleSet, IndexAgreesWithLinearScan) {
  std::mt19937 rng(7);
  auto pick = [&](int n) { return int(rng() % unsigned(n)); };
  for (int round = 0; round < 50; ++round) {
    std::vector<Rule> list;
    const int n = 1 + pick(60);
    for (int i = 0; i < n; ++i) {
      Rule r{};
      r.action = pick(2) ? Action::accept : Action::drop;
      const int proto = pick(4);
      if (proto < 3) r.proto = Proto(proto);
      if (pick(3)) {
        const uint8_t len = uint8_t(pick(4) * 8 + pick(2) * 4);
        const uint32_t a = (0xC0000200u | uint32_t(pick(4))) & (len ? ~0u << (32 - len) : 0);
        r.dst = Cidr4{Ipv4Addr::from_host(a), len};
      }
      if ((r.proto == Proto::tcp || r.proto == Proto::udp) && pick(2)) {
        const uint16_t lo = uint16_t(pick(4) * 20);
        r.ports = PortRange{lo, uint16_t(lo + pick(30))};
      }
      if (r.proto == Proto::icmp && pick(2)) r.icmp_type = uint8_t(pick(3) * 8 % 11);
      list.push_back(std::move(r));
    }
    const auto rs = RuleSet::build(list, {}, {});
    for (int k = 0; k < 200; ++k) {
      const uint8_t protos[] = {ipproto::tcp, ipproto::udp, ipproto::icmp, 47};
      FlowQuery q{false, protos[pick(4)], Ipv4Addr::from_host(0xC0000200u | uint32_t(pick(6))),
                  {}, uint16_t(pick(100)), uint8_t(pick(11))};
      const auto want = linear(list, q);
      const auto got = rs.classify(q);
      ASSERT_EQ(got.rule, want) << "round " << round << " query " << k;
      if (want) {
        EXPECT_EQ(got.action, list[*want].action);
      }
    }
  }
}

}  // namespace
}  // namespace xfw::firewall
