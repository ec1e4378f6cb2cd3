// Connection table: both keys, TCP states and timeouts, limits, expiry, per-vif flush.
#include <gtest/gtest.h>

#include <set>

#include "nat/conntrack.h"
#include "nat/rewrite.h"
#include "packet/parse.h"

namespace xfw::nat {
namespace {

Addr v4(uint32_t a) { return addr_of(packet::Ipv4Addr::from_host(a)); }
const Addr kUplink = v4(0xC0A86402);
Key tcp_key(uint32_t client, uint16_t sport, uint16_t dport = 80) {
  return Key{v4(client), v4(0xC0000201), sport, dport, packet::ipproto::tcp, false};
}

ConnTrack table(Limits l = {}, Timeouts t = {}) {
  ConnTrack ct(l, t, 99);
  ct.set_uplink(false, kUplink);
  return ct;
}

TEST(ConnTrack, FlowIsFoundFromBothDirections) {
  auto ct = table();
  const Key k = tcp_key(0x0A890005, 40000);
  auto made = ct.create(k, k.dst, 0, 1, 0, 0);
  ASSERT_TRUE(std::holds_alternative<uint32_t>(made));
  const uint32_t id = std::get<uint32_t>(made);
  ct.seen(id, true, 0x02, 0);
  EXPECT_EQ(ct.find_orig(k, 1), id);
  const Key r = ct.reply_key(ct.flow(id));
  EXPECT_EQ(r.src, k.dst);
  EXPECT_EQ(r.dst, kUplink);
  EXPECT_EQ(r.sport, 80);
  EXPECT_EQ(r.dport, 40000);  // the client's port was free: kept
  EXPECT_EQ(ct.find_reply(r, 1), id);
  Key other = r;
  other.sport = 81;
  EXPECT_EQ(ct.find_reply(other, 1), ConnTrack::kNone);
}

TEST(ConnTrack, TcpStatesAndTheirTimeouts) {
  Timeouts t;
  auto ct = table({}, t);
  const Key k = tcp_key(0x0A890005, 40000);
  const uint32_t id = std::get<uint32_t>(ct.create(k, k.dst, 0, 1, 0, 0));
  ct.seen(id, true, 0x02, 0);
  EXPECT_EQ(ct.flow(id).tcp, TcpState::syn_sent);
  EXPECT_EQ(ct.flow(id).expires, t.tcp_syn);
  ct.seen(id, false, 0x12, 10);
  EXPECT_EQ(ct.flow(id).tcp, TcpState::syn_recv);
  ct.seen(id, true, 0x10, 20);
  EXPECT_EQ(ct.flow(id).tcp, TcpState::established);
  EXPECT_EQ(ct.flow(id).expires, 20 + t.tcp_established);
  ct.seen(id, true, 0x11, 30);
  EXPECT_EQ(ct.flow(id).tcp, TcpState::fin_wait);
  ct.seen(id, false, 0x11, 40);
  EXPECT_EQ(ct.flow(id).tcp, TcpState::closing);
  EXPECT_EQ(ct.flow(id).expires, 40 + t.tcp_fin);
  ct.seen(id, false, 0x04, 50);
  EXPECT_EQ(ct.flow(id).tcp, TcpState::closed);
  EXPECT_EQ(ct.find_orig(k, 50 + t.tcp_close), ConnTrack::kNone);  // expired and freed
  EXPECT_EQ(ct.size(), 0u);
}

TEST(ConnTrack, SynAckFromTheClientSideDoesNotEstablish) {
  auto ct = table();
  const Key k = tcp_key(0x0A890005, 40000);
  const uint32_t id = std::get<uint32_t>(ct.create(k, k.dst, 0, 1, 0, 0));
  ct.seen(id, true, 0x02, 0);
  ct.seen(id, true, 0x12, 1);  // a client cannot answer its own SYN
  ct.seen(id, true, 0x10, 2);
  EXPECT_EQ(ct.flow(id).tcp, TcpState::syn_sent);
}

TEST(ConnTrack, GlobalAndPerVifLimits) {
  auto ct = table(Limits{4, 3, 1024, 65535});
  for (uint16_t p = 1; p <= 3; ++p)
    EXPECT_TRUE(std::holds_alternative<uint32_t>(ct.create(tcp_key(0x0A890005, p), v4(0xC0000201), 0, 1, 0, 0)));
  auto r = ct.create(tcp_key(0x0A890005, 4), v4(0xC0000201), 0, 1, 0, 0);
  EXPECT_EQ(std::get<Refused>(r), Refused::vif_limit);
  EXPECT_TRUE(std::holds_alternative<uint32_t>(ct.create(tcp_key(0x0A890006, 4), v4(0xC0000201), 1, 1, 0, 0)));
  r = ct.create(tcp_key(0x0A890007, 4), v4(0xC0000201), 2, 1, 0, 0);
  EXPECT_EQ(std::get<Refused>(r), Refused::table_full);
  EXPECT_EQ(ct.flush_vif(0), 3u);
  EXPECT_EQ(ct.size(), 1u);
  EXPECT_EQ(ct.vif_flows(1), 1u);
}

TEST(ConnTrack, NatPortsAreUniquePerDestination) {
  auto ct = table(Limits{100, 100, 2000, 2003});  // four ports only
  std::set<uint16_t> ports;
  for (uint32_t c = 0; c < 4; ++c) {
    auto r = ct.create(tcp_key(0x0A890005 + c, 5000), v4(0xC0000201), c, 1, 0, 0);
    ASSERT_TRUE(std::holds_alternative<uint32_t>(r));
    ports.insert(ct.flow(std::get<uint32_t>(r)).nat_port);
  }
  EXPECT_EQ(ports.size(), 4u);
  // All four ports toward that destination and port are taken (the probe gives up).
  EXPECT_EQ(std::get<Refused>(ct.create(tcp_key(0x0A890010, 5000), v4(0xC0000201), 9, 1, 0, 0)), Refused::no_nat_port);
  // Another destination port reuses them.
  EXPECT_TRUE(std::holds_alternative<uint32_t>(ct.create(tcp_key(0x0A890010, 5000, 443), v4(0xC0000201), 9, 1, 0, 0)));
}

TEST(ConnTrack, SweepFreesExpiredFlows) {
  auto ct = table(Limits{1000, 1000, 1024, 65535});
  for (uint16_t p = 0; p < 500; ++p) {
    const uint32_t id = std::get<uint32_t>(ct.create(tcp_key(0x0A890005, uint16_t(2000 + p)), v4(0xC0000201), 0, 1, 0, 0));
    ct.seen(id, true, 0x02, p < 250 ? 0 : 1'000'000);
  }
  std::size_t freed = 0;
  for (int i = 0; i < 10; ++i) freed += ct.sweep(200'000, 100);
  EXPECT_EQ(freed, 250u);
  EXPECT_EQ(ct.size(), 250u);
}

TEST(ConnTrack, AFlowCostsAtMost128Bytes) {
  EXPECT_LE(ConnTrack::kBytesPerFlow, 128u);
}

TEST(ConnTrack, ChangingTheUplinkAddressDropsThatFamily) {
  auto ct = table();
  (void)ct.create(tcp_key(0x0A890005, 1), v4(0xC0000201), 0, 1, 0, 0);
  ct.set_uplink(false, v4(0xC0A86403));
  EXPECT_EQ(ct.size(), 0u);
}

}  // namespace
}  // namespace xfw::nat
