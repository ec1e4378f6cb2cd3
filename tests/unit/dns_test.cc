// DNS messages of xfwd's own resolver: queries, strict response parsing, and the refresh logic.
#include <gtest/gtest.h>

#include <algorithm>

#include "firewall/dns.h"
#include "firewall/host_resolver.h"
#include "tests/support/frames.h"

namespace xfw::firewall {
namespace {

using testing::Bytes;
using testing::hex;

Bytes name_bytes(const std::string& n) {
  Bytes b;
  std::size_t s = 0;
  while (s <= n.size()) {
    const auto d = std::min(n.find('.', s), n.size());
    b.push_back(std::byte(d - s));
    for (std::size_t i = s; i < d; ++i) b.push_back(std::byte(n[i]));
    s = d + 1;
  }
  b.push_back(std::byte{0});
  return b;
}

// A response: header, the question, then the given answer records.
Bytes response(uint16_t id, const std::string& q, uint16_t qtype, const std::vector<Bytes>& answers,
               uint16_t flags = 0x8180) {
  Bytes m = hex({id >> 8, id & 0xFF, flags >> 8, flags & 0xFF, 0, 1, 0, int(answers.size()), 0, 0, 0, 0});
  testing::append(m, name_bytes(q));
  testing::append(m, hex({qtype >> 8, qtype & 0xFF, 0, 1}));
  for (const auto& a : answers) testing::append(m, a);
  return m;
}
Bytes rr(const Bytes& owner, uint16_t type, uint32_t ttl, const Bytes& rdata) {
  Bytes r = owner;
  testing::append(r, hex({type >> 8, type & 0xFF, 0, 1, int(ttl >> 24), int(ttl >> 16 & 0xFF),
                          int(ttl >> 8 & 0xFF), int(ttl & 0xFF), int(rdata.size() >> 8), int(rdata.size() & 0xFF)}));
  testing::append(r, rdata);
  return r;
}
const Bytes kPtrToQuestion = hex({0xC0, 12});  // compression pointer to the question name

TEST(Dns, BuildsAQuery) {
  std::byte buf[512];
  const auto n = dns::build_query(buf, 0xBEEF, "updates.example", dns::kTypeA);
  Bytes want = hex({0xBE, 0xEF, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0});
  testing::append(want, name_bytes("updates.example"));
  testing::append(want, hex({0, 1, 0, 1}));
  EXPECT_EQ(Bytes(buf, buf + n), want);
  EXPECT_EQ(dns::build_query(buf, 1, "bad..name", dns::kTypeA), 0u);
  EXPECT_EQ(dns::build_query(buf, 1, "UPPER.example", dns::kTypeA), 0u);
  EXPECT_EQ(dns::build_query(buf, 1, std::string(64, 'a') + ".x", dns::kTypeA), 0u);
}

TEST(Dns, ParsesAnswersFollowingCnames) {
  Bytes cname_target = name_bytes("cdn.example");
  const auto m = response(7, "updates.example", dns::kTypeA,
                          {rr(kPtrToQuestion, dns::kTypeCNAME, 300, cname_target),
                           rr(name_bytes("cdn.example"), dns::kTypeA, 60, hex({192, 0, 2, 80})),
                           rr(name_bytes("other.example"), dns::kTypeA, 60, hex({203, 0, 113, 1})),
                           rr(kPtrToQuestion, dns::kTypeAAAA, 60, Bytes(16))});
  const auto r = dns::parse_response(m);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->id, 7);
  EXPECT_EQ(r->name, "updates.example");
  ASSERT_EQ(r->v4.size(), 1u);  // not other.example's, not the AAAA in an A response
  EXPECT_EQ(r->v4[0].str(), "192.0.2.80");
  EXPECT_EQ(r->ttl, 60u);
}

TEST(Dns, RejectsWhatIsNotAWellFormedResponse) {
  const auto ok = response(7, "a.example", dns::kTypeA, {rr(kPtrToQuestion, 1, 60, hex({1, 2, 3, 4}))});
  ASSERT_TRUE(dns::parse_response(ok));
  for (std::size_t cut = 0; cut < ok.size(); ++cut)
    EXPECT_FALSE(dns::parse_response(Bytes(ok.begin(), ok.begin() + cut))) << cut;
  EXPECT_FALSE(dns::parse_response(response(7, "a.example", 1, {}, 0x0100)));  // a query
  EXPECT_FALSE(dns::parse_response(response(7, "a.example", 1, {}, 0x8380)));  // truncated
  // A pointer loop, a forward pointer, a label over 63.
  EXPECT_FALSE(dns::parse_response(response(7, "a.example", 1, {rr(hex({0xC0, 0xFF}), 1, 60, hex({1, 2, 3, 4}))})));
  Bytes loop = ok;
  loop[12] = std::byte{0xC0};
  loop[13] = std::byte{12};
  EXPECT_FALSE(dns::parse_response(loop));
  EXPECT_TRUE(dns::parse_response(response(7, "a.example", 1, {}, 0x8183)));  // NXDOMAIN: parsed
  EXPECT_EQ(dns::parse_response(response(7, "a.example", 1, {}, 0x8183))->rcode, 3);
}

TEST(HostResolver, AsksEachServerInTurnAndRefreshesByTtl) {
  HostResolver hr(1);
  const std::vector<packet::Ipv4Addr> servers{*packet::Ipv4Addr::parse("192.0.2.53"), *packet::Ipv4Addr::parse("192.0.2.54")};
  hr.set_hosts({"a.example"});
  auto q = hr.due(0, servers);
  ASSERT_EQ(q.size(), 2u);  // A and AAAA
  EXPECT_TRUE(hr.due(100, servers).empty());  // in flight
  EXPECT_GE(q[0].sport, HostResolver::kPortLo);
  // A response with the wrong id, port or server is not taken.
  dns::Response r{q[0].id, 0, "a.example", dns::kTypeA, {*packet::Ipv4Addr::parse("192.0.2.80")}, {}, 120};
  dns::Response wrong = r;
  wrong.id ^= 1;
  EXPECT_FALSE(hr.on_response(wrong, q[0].server, q[0].sport, 10));
  EXPECT_FALSE(hr.on_response(r, servers[1], q[0].sport, 10));
  EXPECT_FALSE(hr.on_response(r, q[0].server, uint16_t(q[0].sport + 1), 10));
  const auto got = hr.on_response(r, q[0].server, q[0].sport, 10);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->second.v4.size(), 1u);
  EXPECT_FALSE(hr.on_response(r, q[0].server, q[0].sport, 11));  // answered once only
  // AAAA times out after 2 s and goes to the other server.
  q = hr.due(2000, servers);
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q[0].qtype, dns::kTypeAAAA);
  EXPECT_EQ(q[0].server, servers[1]);
  // A is asked again when its TTL (120 s) runs out.
  const auto mid = hr.due(100'000, servers);
  EXPECT_TRUE(std::none_of(mid.begin(), mid.end(), [](const auto& x) { return x.qtype == dns::kTypeA; }));
  const auto later = hr.due(120'010, servers);
  EXPECT_TRUE(std::any_of(later.begin(), later.end(), [](const auto& x) { return x.qtype == dns::kTypeA; }));
  hr.set_hosts({});
  EXPECT_TRUE(hr.due(500'000, servers).empty());
}

}  // namespace
}  // namespace xfw::firewall
