// The Qubes rule syntax: what parses, the canonical form, and errors that point at the word.
#include <gtest/gtest.h>

#include "firewall/rule.h"

namespace xfw::firewall {
namespace {

Rule ok(std::string_view s) {
  auto r = parse_rule(s);
  if (auto* e = std::get_if<RuleError>(&r)) ADD_FAILURE() << format_error(s, *e);
  return std::holds_alternative<Rule>(r) ? std::get<Rule>(r) : Rule{};
}
RuleError bad(std::string_view s) {
  auto r = parse_rule(s);
  if (!std::holds_alternative<RuleError>(r)) ADD_FAILURE() << "accepted: " << s;
  return std::holds_alternative<RuleError>(r) ? std::get<RuleError>(r) : RuleError{};
}

TEST(Rule, ParsesTheQubesForms) {
  auto r = ok("action=accept proto=tcp dst4=192.0.2.0/24 dstports=443-443");
  EXPECT_EQ(r.action, Action::accept);
  EXPECT_EQ(r.proto, Proto::tcp);
  EXPECT_EQ(std::get<Cidr4>(r.dst).len, 24);
  EXPECT_EQ(r.ports, (PortRange{443, 443}));
  r = ok("action=drop dsthost=example.com");
  EXPECT_EQ(std::get<std::string>(r.dst), "example.com");
  EXPECT_TRUE(std::holds_alternative<DnsTarget>(ok("action=accept specialtarget=dns").dst));
  EXPECT_EQ(ok("action=accept proto=icmp icmptype=8").icmp_type, 8);
  EXPECT_EQ(std::get<Cidr6>(ok("action=accept dst6=fd09:24ef::/32").dst).len, 32);
  EXPECT_EQ(std::get<Cidr4>(ok("action=accept dst4=192.0.2.7").dst).len, 32);
  EXPECT_EQ(ok("action=drop").action, Action::drop);
}

// What qvm-firewall takes and normalises (qubesadmin/firewall.py).
TEST(Rule, QvmFirewallForms) {
  EXPECT_EQ(ok("action=accept proto=tcp dstports=443").ports, (PortRange{443, 443}));
  EXPECT_EQ(to_string(ok("action=accept proto=tcp dstports=443")), "action=accept proto=tcp dstports=443-443");
  EXPECT_EQ(std::get<Cidr4>(ok("action=accept dsthost=192.0.2.0/24").dst), (Cidr4{*packet::Ipv4Addr::parse("192.0.2.0"), 24}));
  EXPECT_EQ(std::get<Cidr4>(ok("action=accept dsthost=192.0.2.7").dst).len, 32);
  EXPECT_EQ(std::get<Cidr6>(ok("action=accept dsthost=2001:db8::/32").dst).len, 32);
  EXPECT_EQ(to_string(ok("dsthost=192.0.2.7 action=accept")), "action=accept dst4=192.0.2.7/32");
  EXPECT_EQ(std::get<std::string>(ok("action=accept dsthost=www.example.com.").dst), "www.example.com.");
  EXPECT_EQ(std::get<std::string>(ok("action=accept dsthost=a_b.example").dst), "a_b.example");
  std::string longest(63, 'a');  // 4 labels of 63 and one of 1: 253 characters
  EXPECT_TRUE(std::holds_alternative<Rule>(parse_rule("action=accept dsthost=" + longest + "." + longest + "." + longest + "." + longest.substr(0, 61))));
  EXPECT_EQ(bad("action=accept dsthost=" + longest + "." + longest + "." + longest + "." + longest).message,
            "dsthost: longer than 253 characters");
  // expire=: a UNIX time, or +SECONDS from now; kept absolute.
  const Rule t = std::get<Rule>(parse_rule("action=accept expire=+3600", 1'800'000'000));
  EXPECT_EQ(t.expire, 1'800'003'600);
  EXPECT_EQ(to_string(t), "action=accept expire=1800003600");
  EXPECT_EQ(ok("action=accept expire=1800003600"), t);
  // +SECONDS that would land past what the canonical form holds is refused (fuzz_rule's find:
  // "expire=+2222886200" printed a time that did not parse back).
  const auto far = parse_rule("action=drop expire=+2222886200", 1'800'000'000);
  ASSERT_TRUE(std::holds_alternative<RuleError>(far));
  EXPECT_EQ(std::get<RuleError>(far).message, "expire: must be a UNIX time or +SECONDS, no later than 4000000000");
  EXPECT_TRUE(std::holds_alternative<Rule>(parse_rule("action=drop expire=+2200000000", 1'800'000'000)));
  // comment=: the rest of the rule, spaces included.
  const Rule c = ok("action=drop proto=udp comment=no NTP  for  work=yes");
  EXPECT_EQ(c.comment, "no NTP  for  work=yes");
  EXPECT_EQ(c.proto, Proto::udp);
  EXPECT_EQ(to_string(c), "action=drop proto=udp comment=no NTP  for  work=yes");
  EXPECT_EQ(ok(to_string(c)), c);
  EXPECT_EQ(bad("comment=x action=drop").message, "action=accept or action=drop is required");
}

TEST(Rule, CanonicalFormRoundTrips) {
  for (const char* s : {"action=accept proto=tcp dst4=192.0.2.0/24 dstports=443-443",
                        "dstports=1-1024 proto=udp action=drop", "action=accept dst4=10.0.0.1",
                        "action=accept proto=icmp dst6=2001:db8::/32 icmptype=128",
                        "specialtarget=dns action=accept proto=udp"}) {
    const Rule r = ok(s);
    EXPECT_EQ(ok(to_string(r)), r) << s;
  }
  EXPECT_EQ(to_string(ok("dstports=1-1024 proto=udp action=drop")),
            "action=drop proto=udp dstports=1-1024");
}

TEST(Rule, ErrorsPointAtTheWord) {
  const std::string s = "action=accept proto=tcp dstports=443-80";
  const auto e = bad(s);
  EXPECT_EQ(e.message, "dstports: low port 443 is above high port 80");
  EXPECT_EQ(format_error(s, e),
            "action=accept proto=tcp dstports=443-80\n"
            "                        ^^^^^^^^^^^^^^^ dstports: low port 443 is above high port 80");
  struct Case {
    const char* rule;
    std::size_t offset;
    const char* message;
  };
  for (const Case& c : {
           Case{"", 0, "empty rule: it needs at least action=accept or action=drop"},
           Case{"proto=tcp", 0, "action=accept or action=drop is required"},
           Case{"action=allow", 0, "action: must be accept or drop"},
           Case{"action=drop proto=sctp", 12, "proto: must be tcp, udp or icmp"},
           Case{"action=drop  proto=tcp", 12, "words are separated by exactly one space"},
           Case{"action=drop ", 12, "words are separated by exactly one space"},
           Case{"action=drop action=accept", 12, "action: given twice"},
           Case{"action=drop dst4=10.0.0.1/24", 12, "dst4: host bits set after /24"},
           Case{"action=drop dst4=10.0.0.0/33", 12, "dst4: prefix length must be 0 to 32"},
           Case{"action=drop dst4=10.0.0", 12, "dst4: not an address: 10.0.0"},
           Case{"action=drop dst6=fd09::1/16", 12, "dst6: host bits set after /16"},
           Case{"action=drop dsthost=Example.com", 12, "dsthost: host names use only a-z 0-9 - . _"},
           Case{"action=drop dst4=10.0.0.0/8 dsthost=a.b", 28,
                "dsthost: only one of dst4, dst6, dsthost and specialtarget may be given"},
           Case{"action=drop specialtarget=ntp", 12, "specialtarget: the only special target is dns"},
           Case{"action=drop proto=tcp dstports=0-10", 22, "dstports: must be PORT or LOW-HIGH, ports 1 to 65535"},
           Case{"action=drop proto=tcp dstports=0", 22, "dstports: must be PORT or LOW-HIGH, ports 1 to 65535"},
           Case{"action=drop proto=tcp dstports=1-65536", 22, "dstports: must be PORT or LOW-HIGH, ports 1 to 65535"},
           Case{"action=drop proto=tcp dstports=80-", 22, "dstports: must be PORT or LOW-HIGH, ports 1 to 65535"},
           // RFC 1123 host names
           Case{"action=drop dsthost=a..b", 12, "dsthost: an empty label (two dots, or a leading dot)"},
           Case{"action=drop dsthost=.a", 12, "dsthost: an empty label (two dots, or a leading dot)"},
           Case{"action=drop dsthost=.", 12, "dsthost: an empty host name"},
           Case{"action=drop dsthost=-a.b", 12, "dsthost: label -a starts or ends with '-'"},
           Case{"action=drop dsthost=a-.b", 12, "dsthost: label a- starts or ends with '-'"},
           Case{"action=drop dsthost=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.b", 12,
                "dsthost: label aaaaaaaaaa... is longer than 63 characters"},
           Case{"action=drop dsthost=10.0.0.1/24", 12, "dsthost: host bits set after /24"},
           Case{"action=drop dsthost=fd09::1/16", 12, "dsthost: host bits set after /16"},
           Case{"action=drop expire=soon", 12, "expire: must be a UNIX time or +SECONDS"},
           Case{"action=drop expire=+", 12, "expire: must be a UNIX time or +SECONDS"},
           Case{"action=drop expire=-5", 12, "expire: must be a UNIX time or +SECONDS"},
           Case{"action=drop comment=a\tb", 12, "comment: no control characters (it is one line)"},
           Case{"action=drop dstports=1-2", 12, "dstports: needs proto=tcp or proto=udp"},
           Case{"action=drop proto=icmp icmptype=256", 23, "icmptype: must be a number from 0 to 255"},
           Case{"action=drop icmptype=8 proto=tcp", 12, "icmptype: needs proto=icmp"},
           Case{"action=accept proto=udp specialtarget=dns dstports=53-53", 24,
                "specialtarget: dns already means port 53"},
           Case{"action=drop port=22", 12,
                "unknown key port (known: action proto dst4 dst6 dsthost dstports icmptype "
                "specialtarget expire comment)"},
           Case{"action=drop dst4", 12, "expected key=value"},
       }) {
    const auto got = bad(c.rule);
    EXPECT_EQ(got.message, c.message) << c.rule;
    EXPECT_EQ(got.offset, c.offset) << c.rule;
    EXPECT_LE(got.offset, std::string_view(c.rule).size()) << c.rule;
  }
}

}  // namespace
}  // namespace xfw::firewall
