// Golden pipeline tests: frames in, frames out, byte for byte (checksums included).
#include <gtest/gtest.h>

#include <cstring>
#include <set>

#include "firewall/pipeline.h"
#include "packet/segment.h"
#include "nat/rewrite.h"
#include "tests/support/packets.h"

namespace xfw::firewall {
namespace {

using namespace xfw::testing;
using packet::Ipv4Addr;
using packet::MacAddr;

const MacAddr kUplinkMac{{0x02, 0, 0, 0, 0, 0x02}};
const MacAddr kRouterMac{{0x02, 0, 0, 0, 0, 0x01}};
const MacAddr kBroadcast{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
const netback::VifId kWork{0, 1}, kUntrusted{1, 1};

struct Recorder : Egress {
  std::vector<Bytes> uplink;
  std::vector<std::pair<netback::VifId, Bytes>> vifs;
  void to_uplink(std::span<const std::byte> f, uint16_t gso_size) override {
    uplink.emplace_back(f.begin(), f.end());
    uplink_gso.push_back(gso_size);
  }
  std::vector<uint16_t> uplink_gso;
  void to_vif(netback::VifId v, std::span<const std::byte> f) override {
    vifs.emplace_back(v, Bytes(f.begin(), f.end()));
  }
  void clear() {
    uplink.clear();
    uplink_gso.clear();
    vifs.clear();
  }
};

std::vector<Rule> rules(std::initializer_list<const char*> texts) {
  std::vector<Rule> out;
  for (const char* t : texts) out.push_back(std::get<Rule>(parse_rule(t)));
  return out;
}

Bytes arp(uint16_t op, MacAddr sha, const char* spa, MacAddr tha, const char* tpa, MacAddr dst) {
  Bytes f;
  for (auto b : dst.b) f.push_back(std::byte(b));
  for (auto b : sha.b) f.push_back(std::byte(b));
  append(f, hex({0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, op}));
  const Ipv4Addr s = *Ipv4Addr::parse(spa), t = *Ipv4Addr::parse(tpa);
  for (auto b : sha.b) f.push_back(std::byte(b));
  for (auto b : s.b) f.push_back(std::byte(b));
  for (auto b : tha.b) f.push_back(std::byte(b));
  for (auto b : t.b) f.push_back(std::byte(b));
  return f;
}

// Hosts as the tests name them.
const Ip4 kFromWork{"10.137.0.5", "192.0.2.1"};
const Ip4 kOutWork{"192.168.100.2", "192.0.2.1", 63, kUplinkMac, kRouterMac};
const Ip4 kBackWork{"192.0.2.1", "192.168.100.2", 64, kRouterMac, kUplinkMac};
const Ip4 kInWork{"192.0.2.1", "10.137.0.5", 63, kGwMac, kClientMac};

PipelineConfig config() {
  PipelineConfig c;
  c.uplink_addr = Ipv4Addr::parse("192.168.100.2");
  c.uplink_gateway = Ipv4Addr::parse("192.168.100.1");
  c.uplink_mac = kUplinkMac;
  c.resolvers = {*Ipv4Addr::parse("192.168.100.53")};
  return c;
}

class PipelineTest : public ::testing::Test {
 protected:
  explicit PipelineTest(PipelineConfig c = config()) : pl(c, out, 42) {
    pl.vif_up(netback::VifInfo{kWork, xen::DomId{5}, 0, "work", kClientMac,
                               xen::IpList{{*Ipv4Addr::parse("10.137.0.5")}, {}}});
    pl.vif_up(netback::VifInfo{kUntrusted, xen::DomId{6}, 0, "untrusted", kClientMac,
                               xen::IpList{{*Ipv4Addr::parse("10.137.0.6")},
                                           {*packet::Ipv6Addr::parse("fd09:24ef:4179::a89:6")}}});
    pl.set_rules("work", rules({"action=accept"}));
    pl.set_rules("untrusted", rules({"action=accept proto=tcp dst4=192.0.2.0/24 dstports=443-443",
                                     "action=accept specialtarget=dns"}));
    // The router answers our ARP: its MAC is learned.
    pl.tick(0);
    EXPECT_EQ(out.uplink.size(), 1u);  // who-has 192.168.100.1
    EXPECT_FALSE(pl.from_uplink(arp(2, kRouterMac, "192.168.100.1", kUplinkMac, "192.168.100.2", kUplinkMac), 0));
    out.clear();
  }
  std::optional<DropReason> client(netback::VifId v, const Bytes& f, int64_t now = 1000,
                                   netback::TxFlags flags = {}) {
    return pl.from_client(v, f, flags, now);
  }
  std::optional<DropReason> uplink(Bytes f, int64_t now = 1000) { return pl.from_uplink(f, now); }

  Recorder out;
  Pipeline pl;
};

TEST_F(PipelineTest, TcpThroughNatByteForByte) {
  EXPECT_EQ(client(kWork, tcp(kFromWork, 40000, 80, 0x02)), std::nullopt);
  ASSERT_EQ(out.uplink.size(), 1u);
  EXPECT_FRAME(out.uplink[0], tcp(kOutWork, 40000, 80, 0x02));  // masqueraded, port kept, TTL-1

  EXPECT_EQ(uplink(tcp(kBackWork, 80, 40000, 0x12, 5000, 1001)), std::nullopt);
  ASSERT_EQ(out.vifs.size(), 1u);
  EXPECT_EQ(out.vifs[0].first, kWork);
  EXPECT_FRAME(out.vifs[0].second, tcp(kInWork, 80, 40000, 0x12, 5000, 1001));

  EXPECT_EQ(client(kWork, tcp(kFromWork, 40000, 80, 0x10, 1001, 5001)), std::nullopt);
  ASSERT_EQ(pl.conntrack().size(), 1u);
  pl.conntrack().for_each([](uint32_t, const nat::Flow& f) { EXPECT_EQ(f.tcp, nat::TcpState::established); });
}

TEST_F(PipelineTest, TwoClientsSamePortGetDifferentNatPorts) {
  pl.set_rules("untrusted", rules({"action=accept"}));
  Ip4 from6 = kFromWork;
  from6.src = "10.137.0.6";
  EXPECT_EQ(client(kWork, udp(kFromWork, 40000, 9999)), std::nullopt);
  EXPECT_EQ(client(kUntrusted, udp(from6, 40000, 9999)), std::nullopt);
  ASSERT_EQ(out.uplink.size(), 2u);
  auto sport = [](const Bytes& f) { return packet::rd16(f.data() + 34); };
  EXPECT_EQ(sport(out.uplink[0]), 40000);
  EXPECT_NE(sport(out.uplink[1]), 40000);
  // Each reply reaches its own VM.
  EXPECT_EQ(uplink(udp(kBackWork, 9999, sport(out.uplink[1]))), std::nullopt);
  EXPECT_EQ(uplink(udp(kBackWork, 9999, 40000)), std::nullopt);
  ASSERT_EQ(out.vifs.size(), 2u);
  EXPECT_EQ(out.vifs[0].first, kUntrusted);
  EXPECT_EQ(out.vifs[1].first, kWork);
  Ip4 in6 = kInWork;
  in6.dst = "10.137.0.6";
  EXPECT_FRAME(out.vifs[0].second, udp(in6, 9999, 40000));
}

TEST_F(PipelineTest, DnsRedirectToTheResolverAndBack) {
  const Ip4 to_dns{"10.137.0.5", "10.139.1.1"};
  EXPECT_EQ(client(kWork, udp(to_dns, 5353, 53)), std::nullopt);
  ASSERT_EQ(out.uplink.size(), 1u);
  EXPECT_FRAME(out.uplink[0], udp(Ip4{"192.168.100.2", "192.168.100.53", 63, kUplinkMac, kRouterMac}, 5353, 53));
  EXPECT_EQ(uplink(udp(Ip4{"192.168.100.53", "192.168.100.2", 64, kRouterMac, kUplinkMac}, 53, 5353)), std::nullopt);
  ASSERT_EQ(out.vifs.size(), 1u);
  EXPECT_FRAME(out.vifs[0].second, udp(Ip4{"10.139.1.1", "10.137.0.5", 63, kGwMac, kClientMac}, 53, 5353));
  // TCP DNS too (the SYN goes to the resolver).
  EXPECT_EQ(client(kWork, tcp(to_dns, 5354, 53, 0x02)), std::nullopt);
  EXPECT_FRAME(out.uplink[1], tcp(Ip4{"192.168.100.2", "192.168.100.53", 63, kUplinkMac, kRouterMac}, 5354, 53, 0x02));
}

TEST_F(PipelineTest, PingMapsTheIdentifier) {
  EXPECT_EQ(client(kWork, icmp(kFromWork, 8, 0, 0x77, 1)), std::nullopt);
  ASSERT_EQ(out.uplink.size(), 1u);
  const uint16_t nat_id = packet::rd16(out.uplink[0].data() + 34 + 4);
  EXPECT_GE(nat_id, 1024);
  EXPECT_FRAME(out.uplink[0], icmp(kOutWork, 8, 0, nat_id, 1));
  EXPECT_EQ(uplink(icmp(kBackWork, 0, 0, nat_id, 1)), std::nullopt);
  ASSERT_EQ(out.vifs.size(), 1u);
  EXPECT_FRAME(out.vifs[0].second, icmp(kInWork, 0, 0, 0x77, 1));
  EXPECT_EQ(uplink(icmp(kBackWork, 0, 0, nat_id + 1, 1)), DropReason::uplink_no_flow);
}

TEST_F(PipelineTest, BlockedTcpGetsRstAndBlockedUdpGetsAdminProhibited) {
  const Ip4 from6{"10.137.0.6", "198.51.100.1"};
  EXPECT_EQ(client(kUntrusted, tcp(from6, 40000, 80, 0x02, 1000)), DropReason::rule_policy);
  EXPECT_TRUE(out.uplink.empty());
  ASSERT_EQ(out.vifs.size(), 1u);
  EXPECT_FRAME(out.vifs[0].second,
            tcp(Ip4{"198.51.100.1", "10.137.0.6", 64, kGwMac, kClientMac, 0, 0x4000}, 80, 40000, 0x14, 0, 1001, {}, 0));
  out.clear();
  const Bytes dgram = udp(from6, 40000, 123);
  EXPECT_EQ(client(kUntrusted, dgram), DropReason::rule_policy);
  ASSERT_EQ(out.vifs.size(), 1u);
  const Bytes& err = out.vifs[0].second;
  auto p = std::get<packet::Parsed>(packet::parse(err));
  EXPECT_EQ(p.src4, *Ipv4Addr::parse("10.137.0.1"));  // from the gateway
  EXPECT_EQ(p.icmp_type, 3);
  EXPECT_EQ(p.icmp_code, 13);  // communication administratively prohibited
  EXPECT_TRUE(packet::l4_checksum_ok(err, p));
  // The allowed port goes out.
  EXPECT_EQ(client(kUntrusted, tcp(Ip4{"10.137.0.6", "192.0.2.1"}, 40001, 443, 0x02)), std::nullopt);
  EXPECT_EQ(out.uplink.size(), 1u);
}

TEST_F(PipelineTest, SpoofedSourceAndInterVmAreDropped) {
  EXPECT_EQ(client(kWork, udp(Ip4{"10.137.0.9", "192.0.2.1"}, 1, 2)), DropReason::spoofed_source);
  EXPECT_EQ(client(kWork, udp(Ip4{"10.137.0.6", "192.0.2.1"}, 1, 2)), DropReason::spoofed_source);
  EXPECT_EQ(client(kWork, tcp(Ip4{"10.137.0.5", "10.137.0.6"}, 40000, 22, 0x02)), DropReason::inter_vm);
  EXPECT_TRUE(out.uplink.empty());
  EXPECT_EQ(out.vifs.size(), 1u);  // the RST
}

TEST_F(PipelineTest, UplinkTrafficOnlyForKnownFlows) {
  EXPECT_EQ(uplink(tcp(kBackWork, 80, 40000, 0x02)), DropReason::uplink_no_flow);
  EXPECT_EQ(uplink(udp(Ip4{"192.0.2.1", "192.168.100.9", 64, kRouterMac, kUplinkMac}, 1, 2)), DropReason::uplink_not_for_us);
  EXPECT_EQ(uplink(udp(Ip4{"10.137.0.5", "192.168.100.2", 64, kRouterMac, kUplinkMac}, 1, 2)), DropReason::uplink_from_client_address);
  EXPECT_EQ(uplink(Bytes(10)), DropReason::malformed);
  EXPECT_TRUE(out.vifs.empty());
  // A new TCP connection must start with a SYN.
  EXPECT_EQ(client(kWork, tcp(kFromWork, 40000, 80, 0x10, 1, 1)), DropReason::tcp_not_syn);
}

TEST_F(PipelineTest, IcmpErrorsAreTranslatedBothWays) {
  ASSERT_EQ(client(kWork, udp(kFromWork, 40000, 33434)), std::nullopt);
  const Bytes sent = out.uplink.at(0);
  // A router on the way says "TTL exceeded", quoting what it got from us.
  const Ip4 router{"203.0.113.9", "192.168.100.2", 64, kRouterMac, kUplinkMac};
  EXPECT_EQ(uplink(icmp_error(router, 11, 0, sent)), std::nullopt);
  ASSERT_EQ(out.vifs.size(), 1u);
  // The client sees it quoting its own packet (as it sent it, TTL 63 after our hop aside).
  Bytes as_client = udp(Ip4{"10.137.0.5", "192.0.2.1", 63}, 40000, 33434);
  EXPECT_FRAME(out.vifs[0].second, icmp_error(Ip4{"203.0.113.9", "10.137.0.5", 63, kGwMac, kClientMac}, 11, 0, as_client));
  // An error about no flow of ours is dropped.
  EXPECT_EQ(uplink(icmp_error(router, 3, 3, udp(Ip4{"192.168.100.2", "192.0.2.1"}, 1111, 53))), DropReason::icmp_error_no_flow);
  // The client answers a reply with port unreachable: it goes out quoting the NATed reply.
  out.clear();
  const Bytes reply_in = udp(kInWork, 33434, 40000);
  EXPECT_EQ(client(kWork, icmp_error(Ip4{"10.137.0.5", "192.0.2.1"}, 3, 3, reply_in)), std::nullopt);
  ASSERT_EQ(out.uplink.size(), 1u);
  EXPECT_FRAME(out.uplink[0], icmp_error(kOutWork, 3, 3, udp(Ip4{"192.0.2.1", "192.168.100.2", 63}, 33434, 40000)));
}

TEST_F(PipelineTest, ReplacingRulesCutsOnlyForbiddenFlows) {
  EXPECT_EQ(client(kWork, tcp(kFromWork, 40000, 80, 0x02)), std::nullopt);
  EXPECT_EQ(client(kWork, tcp(kFromWork, 40001, 443, 0x02)), std::nullopt);
  EXPECT_EQ(uplink(tcp(Ip4{"192.0.2.1", "192.168.100.2", 64, kRouterMac, kUplinkMac}, 443, 40001, 0x12, 0, 1001)), std::nullopt);
  EXPECT_EQ(pl.set_rules("work", rules({"action=accept proto=tcp dstports=443-443"})), 1u);
  out.clear();
  EXPECT_EQ(client(kWork, tcp(kFromWork, 40000, 80, 0x10, 1001, 1)), DropReason::tcp_not_syn);
  ASSERT_EQ(out.vifs.size(), 1u);  // the client's connection is reset at once
  EXPECT_EQ(packet::rd16(out.vifs[0].second.data() + 34 + 12) & 0x04, 0x04);
  EXPECT_EQ(client(kWork, tcp(kFromWork, 40001, 443, 0x10, 1001, 1)), std::nullopt);
  EXPECT_EQ(out.uplink.size(), 1u);
}

// Rules from QubesDB (daemon/qubesdb_link.h): keyed by address, they win over rules under the
// VM's name; a client's IPv6 traffic takes those under its IPv6 address.
TEST_F(PipelineTest, QubesDbRulesTakePrecedenceAndFollowTheFamily) {
  EXPECT_EQ(client(kWork, tcp(kFromWork, 40000, 80, 0x02)), std::nullopt);  // "work": accept all
  EXPECT_STREQ(pl.rules_source("work"), "local");
  EXPECT_EQ(pl.set_qubesdb_rules("10.137.0.5", rules({"action=accept proto=tcp dstports=443-443"})), 1u);  // cut
  EXPECT_STREQ(pl.rules_source("10.137.0.5"), "qubesdb");
  EXPECT_EQ(pl.vm_of(kWork), "10.137.0.5");
  EXPECT_EQ(client(kWork, tcp(kFromWork, 40001, 80, 0x02)), DropReason::rule_policy);
  EXPECT_EQ(client(kWork, tcp(kFromWork, 40002, 443, 0x02)), std::nullopt);
  // untrusted: IPv4 rules under its v4 address, IPv6 ones under its v6 address.
  pl.set_qubesdb_rules("10.137.0.6", rules({"action=accept proto=udp"}));
  pl.set_qubesdb_rules("fd09:24ef:4179::a89:6", rules({"action=drop"}));
  FlowQuery q4{false, 17, *Ipv4Addr::parse("192.0.2.1"), {}, 53, 0};
  EXPECT_STREQ(pl.explain("10.137.0.6", q4).verdict, "accept");
  Bytes udp6 = hex({0x9c, 0x40, 0x01, 0xbb, 0, 8, 0, 0});
  const auto src6 = *packet::Ipv6Addr::parse("fd09:24ef:4179::a89:6");
  packet::wr16(udp6.data() + 6, packet::checksum(udp6, packet::pseudo_v6(src6, *packet::Ipv6Addr::parse("2001:db8::1"), 17, 8)));
  EXPECT_EQ(client(kUntrusted, ipv6(17, udp6, src6)), DropReason::rule_drop);  // the v6 address's rules
  EXPECT_EQ(client(kUntrusted, udp(Ip4{"10.137.0.6", "192.0.2.1"}, 5000, 53)), std::nullopt);  // the v4 one's
  // Removed from QubesDB: the name's rules apply again.
  pl.remove_rules("10.137.0.5");
  EXPECT_EQ(pl.vm_of(kWork), "work");
  EXPECT_EQ(client(kWork, tcp(kFromWork, 40003, 80, 0x02)), std::nullopt);
}

TEST_F(PipelineTest, RefusedQubesDbRulesDropEverythingAndSayWhy) {
  EXPECT_EQ(client(kWork, tcp(kFromWork, 40000, 80, 0x02)), std::nullopt);
  EXPECT_EQ(pl.set_rules_invalid("10.137.0.5", "rule 0003: dstports: bad"), 1u);  // the flow is cut
  EXPECT_EQ(client(kWork, tcp(kFromWork, 40001, 80, 0x02)), DropReason::rules_invalid);
  EXPECT_EQ(client(kWork, udp(Ip4{"10.137.0.5", "10.139.1.1"}, 5000, 53)), DropReason::rules_invalid);  // DNS too
  ASSERT_NE(pl.rules_invalid("10.137.0.5"), nullptr);
  const auto x = pl.explain("10.137.0.5", FlowQuery{false, 6, *Ipv4Addr::parse("192.0.2.1"), {}, 80, 0});
  EXPECT_STREQ(x.verdict, "reject");
  EXPECT_EQ(x.reason, "the rules of 10.137.0.5 from QubesDB are refused (rule 0003: dstports: bad): all its "
                      "traffic is dropped (fail closed)");
  pl.set_qubesdb_rules("10.137.0.5", rules({"action=accept"}));
  EXPECT_EQ(pl.rules_invalid("10.137.0.5"), nullptr);
  EXPECT_EQ(client(kWork, tcp(kFromWork, 40002, 80, 0x02)), std::nullopt);
}

// /connected-ips: a client address dom0 knows is refused as an uplink source even when no such
// VM runs here.
TEST_F(PipelineTest, KnownClientAddressesAreRefusedFromTheUplink) {
  const Bytes from_99 = udp(Ip4{"10.137.0.99", "192.168.100.2", 64, kRouterMac, kUplinkMac}, 1, 2);
  EXPECT_EQ(uplink(from_99), DropReason::uplink_no_flow);
  pl.set_known_clients({nat::addr_of(*Ipv4Addr::parse("10.137.0.99"))});
  EXPECT_EQ(uplink(from_99), DropReason::uplink_from_client_address);
  pl.set_known_clients({});
  EXPECT_EQ(uplink(from_99), DropReason::uplink_no_flow);
}

// The network from QubesDB at run time: DNS follows the resolvers and the virtual addresses;
// a new uplink address ends the flows NATed to the old one and the gateway is looked up again.
TEST_F(PipelineTest, NetworkChangesAtRunTime) {
  NetworkConfig n = pl.network();
  n.resolvers = {*Ipv4Addr::parse("192.168.100.54")};
  pl.set_network(n);
  ASSERT_EQ(client(kWork, udp(Ip4{"10.137.0.5", "10.139.1.1"}, 5353, 53)), std::nullopt);
  EXPECT_FRAME(out.uplink.back(), udp(Ip4{"192.168.100.2", "192.168.100.54", 63, kUplinkMac, kRouterMac}, 5353, 53));
  n.dns_virtual = {*Ipv4Addr::parse("10.139.1.7")};
  pl.set_network(n);
  EXPECT_NE(pl.explain("untrusted", FlowQuery{false, 17, *Ipv4Addr::parse("10.139.1.7"), {}, 53, 0}).reason.find(
                "DNS redirect to 192.168.100.54"),
            std::string::npos);
  EXPECT_STREQ(pl.explain("untrusted", FlowQuery{false, 17, *Ipv4Addr::parse("10.139.1.1"), {}, 53, 0}).verdict, "reject");
  ASSERT_EQ(client(kWork, tcp(kFromWork, 40000, 80, 0x02)), std::nullopt);
  const std::size_t flows = pl.conntrack().size();
  n.uplink_addr = Ipv4Addr::parse("192.168.100.20");
  pl.set_network(n);
  EXPECT_LT(pl.conntrack().size(), flows);
  EXPECT_EQ(pl.conntrack().size(), 0u);
  out.clear();
  EXPECT_EQ(client(kWork, tcp(kFromWork, 40001, 80, 0x02)), DropReason::uplink_gateway_unknown);
  pl.tick(2000);  // who-has 192.168.100.1, from the new address
  ASSERT_EQ(out.uplink.size(), 1u);
  EXPECT_FRAME(out.uplink[0], arp(1, kUplinkMac, "192.168.100.20", MacAddr{}, "192.168.100.1", MacAddr{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}));
}

TEST_F(PipelineTest, TtlExceededIsAnsweredFromTheGateway) {
  Ip4 h = kFromWork;
  h.ttl = 1;
  EXPECT_EQ(client(kWork, udp(h, 1, 2)), DropReason::ttl_exceeded);
  ASSERT_EQ(out.vifs.size(), 1u);
  auto p = std::get<packet::Parsed>(packet::parse(out.vifs[0].second));
  EXPECT_EQ(p.icmp_type, 11);
  EXPECT_EQ(p.src4, *Ipv4Addr::parse("10.137.0.1"));
}

TEST_F(PipelineTest, GatewayAnswersEchoOnlyAndProxyArp) {
  EXPECT_EQ(client(kWork, icmp(Ip4{"10.137.0.5", "10.137.0.1"}, 8, 0, 1, 1)), std::nullopt);
  EXPECT_EQ(client(kWork, udp(Ip4{"10.137.0.5", "10.137.0.1"}, 1, 53)), DropReason::to_gateway_not_echo);
  EXPECT_EQ(client(kWork, arp(1, kClientMac, "10.137.0.5", MacAddr{}, "10.137.0.1", kGwMac)), std::nullopt);
  EXPECT_EQ(out.vifs.size(), 2u);
  EXPECT_TRUE(out.uplink.empty());
}

TEST_F(PipelineTest, UplinkArpAndUnknownGateway) {
  EXPECT_EQ(uplink(arp(1, kRouterMac, "192.168.100.1", MacAddr{}, "192.168.100.2", kBroadcast)), std::nullopt);
  ASSERT_EQ(out.uplink.size(), 1u);
  EXPECT_FRAME(out.uplink[0], arp(2, kUplinkMac, "192.168.100.2", kRouterMac, "192.168.100.1", kRouterMac));
  EXPECT_EQ(uplink(arp(1, kRouterMac, "192.168.100.1", MacAddr{}, "192.168.100.7", kBroadcast)), DropReason::uplink_not_for_us);
  Recorder o2;
  Pipeline fresh(config(), o2, 1);
  fresh.vif_up(netback::VifInfo{kWork, xen::DomId{5}, 0, "work", kClientMac, xen::IpList{{*Ipv4Addr::parse("10.137.0.5")}, {}}});
  fresh.set_rules("work", rules({"action=accept"}));
  EXPECT_EQ(fresh.from_client(kWork, udp(kFromWork, 1, 2), {}, 0), DropReason::uplink_gateway_unknown);
}

TEST_F(PipelineTest, PerVmFlowLimitSparesOtherVms) {
  PipelineConfig c = config();
  c.limits.max_flows_per_vif = 2;
  Recorder o2;
  Pipeline small(c, o2, 1);
  for (auto [id, ip] : {std::pair{kWork, "10.137.0.5"}, std::pair{kUntrusted, "10.137.0.6"}})
    small.vif_up(netback::VifInfo{id, xen::DomId{5}, 0, ip, kClientMac, xen::IpList{{*Ipv4Addr::parse(ip)}, {}}});
  small.set_rules("10.137.0.5", rules({"action=accept"}));
  small.set_rules("10.137.0.6", rules({"action=accept"}));
  (void)small.from_uplink(arp(2, kRouterMac, "192.168.100.1", kUplinkMac, "192.168.100.2", kUplinkMac), 0);
  EXPECT_EQ(small.from_client(kWork, udp(kFromWork, 1001, 2), {}, 0), std::nullopt);
  EXPECT_EQ(small.from_client(kWork, udp(kFromWork, 1002, 2), {}, 0), std::nullopt);
  EXPECT_EQ(small.from_client(kWork, udp(kFromWork, 1003, 2), {}, 0), DropReason::conntrack_vif_limit);
  EXPECT_EQ(small.from_client(kUntrusted, udp(Ip4{"10.137.0.6", "192.0.2.1"}, 1003, 2), {}, 0), std::nullopt);
  // After the UDP timeout the slots are free again.
  EXPECT_EQ(small.from_client(kWork, udp(kFromWork, 1003, 2), {}, 31'000), std::nullopt);
  // A VM going away takes only its own flows with it.
  small.vif_down(kWork);
  EXPECT_EQ(small.conntrack().vif_flows(kWork.slot), 0u);
  EXPECT_EQ(small.conntrack().vif_flows(kUntrusted.slot), 1u);
}

TEST_F(PipelineTest, ExplainSaysWhichRuleAndWhy) {
  auto q = [](uint8_t proto, const char* dst, uint16_t port) {
    return FlowQuery{false, proto, *Ipv4Addr::parse(dst), {}, port, 0};
  };
  auto e = pl.explain("untrusted", q(6, "192.0.2.1", 443));
  EXPECT_STREQ(e.verdict, "accept");
  EXPECT_EQ(e.rule, 0u);
  EXPECT_EQ(e.reason, "rule 0: action=accept proto=tcp dst4=192.0.2.0/24 dstports=443-443");
  e = pl.explain("untrusted", q(6, "192.0.2.1", 80));
  EXPECT_STREQ(e.verdict, "reject");
  EXPECT_FALSE(e.rule);
  EXPECT_EQ(e.reason, "no rule matched: policy drop");
  e = pl.explain("untrusted", q(17, "10.139.1.2", 53));
  EXPECT_EQ(e.rule, 1u);
  EXPECT_EQ(e.reason, "rule 1: action=accept specialtarget=dns; DNS redirect to 192.168.100.53");
  EXPECT_EQ(pl.explain("nobody", q(6, "192.0.2.1", 443)).reason, "no rules for nobody: policy drop");
  EXPECT_STREQ(pl.explain("work", q(6, "10.137.0.6", 22)).verdict, "reject");
}

TEST_F(PipelineTest, DsthostFailsClosedUntilResolved) {
  pl.set_rules("work", rules({"action=accept proto=tcp dsthost=updates.example", "action=accept proto=udp"}));
  EXPECT_EQ(pl.hosts(), std::vector<std::string>{"updates.example"});
  EXPECT_EQ(client(kWork, udp(kFromWork, 1, 2)), DropReason::rule_unresolved_host);
  EXPECT_NE(pl.explain("work", FlowQuery{false, 17, *Ipv4Addr::parse("192.0.2.1"), {}, 2, 0}).reason.find("not resolved"), std::string::npos);
  pl.set_resolved("updates.example", Resolved{{*Ipv4Addr::parse("192.0.2.1")}, {}});
  EXPECT_EQ(client(kWork, tcp(kFromWork, 40000, 443, 0x02)), std::nullopt);
  EXPECT_EQ(client(kWork, udp(kFromWork, 1, 2)), std::nullopt);
  // The name moves: the flow to the old address is cut.
  pl.set_resolved("updates.example", Resolved{{*Ipv4Addr::parse("192.0.2.2")}, {}});
  EXPECT_EQ(client(kWork, tcp(kFromWork, 40000, 443, 0x10, 1001, 1)), DropReason::tcp_not_syn);
}

// xfwd resolves dsthost names itself, from its uplink address, and the rule starts to match.
// `xfwctl diagnose` asks each resolver itself: one query from the uplink address, and only the
// answer from that server, to that port, with that id counts.
TEST_F(PipelineTest, DiagnoseProbesEachResolverAndTimesTheAnswer) {
  EXPECT_TRUE(pl.gateway_mac().has_value());
  EXPECT_EQ(pl.gateway_heard(), 0);  // learned at time 0 in the fixture
  pl.probe_resolvers(5000);
  ASSERT_EQ(pl.probes().size(), 1u);
  ASSERT_EQ(out.uplink.size(), 1u);
  const Bytes query = out.uplink[0];
  const auto q = std::get<packet::Parsed>(packet::parse(query));
  EXPECT_EQ(q.src4.str(), "192.168.100.2");
  EXPECT_EQ(q.dst4.str(), "192.168.100.53");
  EXPECT_EQ(q.dport, 53);
  EXPECT_TRUE(packet::l4_checksum_ok(query, q));
  EXPECT_EQ(pl.probes()[0].sent, 5000);
  EXPECT_FALSE(pl.probes()[0].answered);
  Bytes msg(query.begin() + q.l4_off + 8, query.end());
  msg[2] = std::byte{0x81};
  msg[3] = std::byte{0x85};  // REFUSED
  const Ip4 from_resolver{"192.168.100.53", "192.168.100.2", 64, kRouterMac, kUplinkMac};
  const Ip4 from_other{"192.168.100.54", "192.168.100.2", 64, kRouterMac, kUplinkMac};
  EXPECT_EQ(uplink(udp(from_other, 53, q.sport, msg), 5001), DropReason::dns_response_bad);
  Bytes other_id = msg;
  other_id[1] ^= std::byte{1};
  EXPECT_EQ(uplink(udp(from_resolver, 53, q.sport, other_id), 5001), DropReason::dns_response_bad);
  EXPECT_FALSE(pl.probes()[0].answered);
  EXPECT_EQ(uplink(udp(from_resolver, 53, q.sport, msg), 5012), std::nullopt);
  EXPECT_EQ(pl.probes()[0].answered, 5012);
  EXPECT_EQ(pl.probes()[0].rcode, 5);
  EXPECT_EQ(uplink(udp(from_resolver, 53, q.sport, msg), 5013), DropReason::dns_response_bad);  // once
}

TEST_F(PipelineTest, DsthostIsResolvedThroughTheUplink) {
  pl.set_rules("work", rules({"action=accept proto=tcp dsthost=updates.example"}));
  EXPECT_EQ(client(kWork, tcp(kFromWork, 40000, 443, 0x02)), DropReason::rule_unresolved_host);
  out.clear();
  pl.tick(2000);
  std::vector<Bytes> queries;
  for (const auto& f : out.uplink) {
    auto p = std::get<packet::Parsed>(packet::parse(f));
    if (p.l3 == packet::L3::ipv4 && p.proto == 17 && p.dport == 53) queries.push_back(f);
  }
  ASSERT_EQ(queries.size(), 2u);  // A and AAAA
  const Bytes& query = queries[0][queries[0].size() - 3] == std::byte{1} ? queries[0] : queries[1];
  auto q = std::get<packet::Parsed>(packet::parse(query));
  EXPECT_EQ(q.src4.str(), "192.168.100.2");
  EXPECT_EQ(q.dst4.str(), "192.168.100.53");
  EXPECT_TRUE(packet::l4_checksum_ok(query, q));
  // The resolver answers the A query: the question echoed, one A record (pointer to the name).
  Bytes msg(query.begin() + q.l4_off + 8, query.end());
  const bool is_a = msg[msg.size() - 3] == std::byte{1};
  ASSERT_TRUE(is_a);
  msg[2] = std::byte{0x81};
  msg[3] = std::byte{0x80};
  msg[7] = std::byte{1};
  append(msg, hex({0xC0, 12, 0, is_a ? 1 : 28, 0, 1, 0, 0, 1, 0, 0, is_a ? 4 : 16}));
  if (is_a) {
    append(msg, hex({192, 0, 2, 1}));
  } else {
    append(msg, Bytes(16, std::byte{0x20}));
  }
  const Ip4 from_resolver{"192.168.100.53", "192.168.100.2", 64, kRouterMac, kUplinkMac};
  Bytes wrong_port = udp(from_resolver, 53, uint16_t(q.sport ^ 1), msg);
  EXPECT_EQ(uplink(wrong_port), DropReason::dns_response_bad);
  EXPECT_EQ(uplink(udp(from_resolver, 53, q.sport, msg)), std::nullopt);
  if (is_a) {
    EXPECT_EQ(client(kWork, tcp(kFromWork, 40000, 443, 0x02)), std::nullopt);
    EXPECT_EQ(pl.explain("work", FlowQuery{false, 6, *Ipv4Addr::parse("192.0.2.1"), {}, 443, 0}).rule, 0u);
  }
}

TEST_F(PipelineTest, NoResolverMeansDnsIsDropped) {
  PipelineConfig c = config();
  c.resolvers.clear();
  Recorder o2;
  Pipeline p2(c, o2, 1);
  p2.vif_up(netback::VifInfo{kWork, xen::DomId{5}, 0, "work", kClientMac, xen::IpList{{*Ipv4Addr::parse("10.137.0.5")}, {}}});
  p2.set_rules("work", rules({"action=accept"}));
  EXPECT_EQ(p2.from_client(kWork, udp(Ip4{"10.137.0.5", "10.139.1.1"}, 5353, 53), {}, 0), DropReason::dns_no_resolver);
  EXPECT_TRUE(o2.uplink.empty());
}

TEST_F(PipelineTest, Ipv6FollowsTheRulesAndNeverLeaks) {
  Bytes udp6 = hex({0x9c, 0x40, 0x01, 0xbb, 0, 8, 0, 0});
  const auto src6 = *packet::Ipv6Addr::parse("fd09:24ef:4179::a89:6");
  packet::wr16(udp6.data() + 6, packet::checksum(udp6, packet::pseudo_v6(src6, *packet::Ipv6Addr::parse("2001:db8::1"), 17, 8)));
  EXPECT_EQ(client(kWork, ipv6(17, udp6)), DropReason::ipv6_not_assigned);  // work has no IPv6
  EXPECT_EQ(client(kUntrusted, ipv6(17, udp6, src6)), DropReason::rule_policy);
  pl.set_rules("untrusted", rules({"action=accept dst6=2001:db8::/32"}));
  EXPECT_EQ(client(kUntrusted, ipv6(17, udp6, src6)), DropReason::uplink_unconfigured);
  EXPECT_TRUE(out.uplink.empty());
}

// NAT66 through an IPv6 uplink: the gateway's MAC from neighbor discovery, then a TCP
// connection masqueraded both ways, byte for byte.
TEST_F(PipelineTest, Ipv6ThroughTheUplink) {
  PipelineConfig c = config();
  c.gateway6 = packet::Ipv6Addr::parse("fd09:24ef:4179::a89:1");
  c.uplink_addr6 = packet::Ipv6Addr::parse("fd00:100::2");
  c.uplink_gateway6 = packet::Ipv6Addr::parse("fd00:100::1");
  Recorder o;
  Pipeline p6(c, o, 1);
  p6.vif_up(netback::VifInfo{kUntrusted, xen::DomId{6}, 0, "untrusted", kClientMac,
                             xen::IpList{{*Ipv4Addr::parse("10.137.0.6")}, {*packet::Ipv6Addr::parse("fd09:24ef:4179::a89:6")}}});
  p6.set_rules("untrusted", rules({"action=accept proto=tcp dst6=2001:db8::/32"}));
  const Ip6 out6{"fd09:24ef:4179::a89:6", "2001:db8::1"};
  EXPECT_EQ(p6.from_client(kUntrusted, tcp6(out6, 40000, 443, 0x02), {}, 0), DropReason::uplink_gateway_unknown);
  p6.tick(0);  // asks for the gateway's MAC: a neighbor solicitation to its solicited-node group
  ASSERT_FALSE(o.uplink.empty());
  const auto ns = std::get<packet::Parsed>(packet::parse(o.uplink.back()));
  EXPECT_EQ(ns.icmp_type, 135);
  EXPECT_EQ(ns.nd_target.str(), "fd00:100::1");
  EXPECT_EQ(ns.dst6.str(), "ff02::1:ff00:1");
  EXPECT_TRUE(packet::l4_checksum_ok(o.uplink.back(), ns));
  // The router's advertisement (any NDP message from it) teaches its MAC.
  Bytes na = ip6_frame(Ip6{"fd00:100::1", "fd00:100::2", 255, kRouterMac, kUplinkMac}, 58,
                       hex({136, 0, 0, 0, 0x60, 0, 0, 0, 0xfd, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}), 2);
  EXPECT_EQ(p6.from_uplink(na, 0), std::nullopt);
  o.clear();
  EXPECT_EQ(p6.from_client(kUntrusted, tcp6(out6, 40000, 443, 0x02), {}, 0), std::nullopt);
  ASSERT_EQ(o.uplink.size(), 1u);
  EXPECT_FRAME(o.uplink[0], tcp6(Ip6{"fd00:100::2", "2001:db8::1", 63, kUplinkMac, kRouterMac}, 40000, 443, 0x02));
  EXPECT_EQ(p6.from_uplink(tcp6(Ip6{"2001:db8::1", "fd00:100::2", 64, kRouterMac, kUplinkMac}, 443, 40000, 0x12, 5, 1001), 0), std::nullopt);
  ASSERT_EQ(o.vifs.size(), 1u);
  EXPECT_FRAME(o.vifs[0].second, tcp6(Ip6{"2001:db8::1", "fd09:24ef:4179::a89:6", 63, kGwMac, kClientMac}, 443, 40000, 0x12, 5, 1001));
  // A blocked IPv6 port is answered with a reset; our uplink address answers neighbor solicitations.
  o.clear();
  EXPECT_EQ(p6.from_client(kUntrusted, tcp6(Ip6{"fd09:24ef:4179::a89:6", "2001:db9::1"}, 40001, 80, 0x02), {}, 0), DropReason::rule_policy);
  ASSERT_EQ(o.vifs.size(), 1u);
  const auto rst = std::get<packet::Parsed>(packet::parse(o.vifs[0].second));
  EXPECT_EQ(rst.tcp_flags & 0x04, 0x04);
  EXPECT_TRUE(packet::l4_checksum_ok(o.vifs[0].second, rst));
  Bytes ns_us = ip6_frame(Ip6{"fd00:100::1", "ff02::1:ff00:2", 255, kRouterMac, MacAddr{{0x33, 0x33, 0xff, 0, 0, 2}}}, 58,
                          hex({135, 0, 0, 0, 0, 0, 0, 0, 0xfd, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}), 2);
  EXPECT_EQ(p6.from_uplink(ns_us, 0), std::nullopt);
  ASSERT_EQ(o.uplink.size(), 1u);
  EXPECT_EQ(std::get<packet::Parsed>(packet::parse(o.uplink[0])).icmp_type, 136);
}

TEST_F(PipelineTest, CsumBlankIsCompleted) {
  Bytes f = udp(kFromWork, 40000, 9999);
  // What Linux netfront sends with NETTXF_csum_blank: only the pseudo-header sum in the field.
  auto p = std::get<packet::Parsed>(packet::parse(f));
  packet::wr16(f.data() + p.l4_off + 6, packet::fold(packet::pseudo_v4(p.src4, p.dst4, 17, 12)));
  EXPECT_FALSE(packet::l4_checksum_ok(f, p));
  EXPECT_EQ(client(kWork, f, 1000, netback::TxFlags{true, false, {}}), std::nullopt);
  ASSERT_EQ(out.uplink.size(), 1u);
  EXPECT_FRAME(out.uplink[0], udp(kOutWork, 40000, 9999));
}

// A guest's GSO super-frame keeps its segment size on the way to the uplink (the NAT rewrite
// does not change lengths); a GSO claim on a frame that is not TCP is not passed on.
TEST_F(PipelineTest, GsoSizeFollowsTcpSuperFramesOnly) {
  const netback::TxFlags gso{false, false, netback::Gso{1448, netback::kGsoTcpV4}};
  EXPECT_EQ(client(kWork, tcp(kFromWork, 40000, 80, 0x02)), std::nullopt);
  EXPECT_EQ(uplink(tcp(kBackWork, 80, 40000, 0x12, 5000, 1001)), std::nullopt);
  const Bytes data(20000, std::byte{9});
  EXPECT_EQ(client(kWork, tcp(kFromWork, 40000, 80, 0x10, 1001, 5001, data), 1000, gso), std::nullopt);
  EXPECT_EQ(client(kWork, udp(kFromWork, 40000, 9999, data), 1000, gso), std::nullopt);
  ASSERT_EQ(out.uplink.size(), 3u);
  EXPECT_EQ(out.uplink_gso[0], 0);
  // Longer than a VM's link: it leaves with a partial checksum (the pseudo-header sum) for GSO.
  Bytes want = tcp(kOutWork, 40000, 80, 0x10, 1001, 5001, data);
  packet::set_partial_checksum(want, std::get<packet::Parsed>(packet::parse(want)));
  EXPECT_FRAME(out.uplink[1], want);
  EXPECT_EQ(out.uplink_gso[1], 1448);
  EXPECT_EQ(out.uplink_gso[2], 0);
}

// A UDP datagram in two fragments each way: the first carries the ports, the second only
// follows it (RFC 791); both get the flow's addresses.
TEST_F(PipelineTest, FragmentsFollowTheirFirstFragment) {
  // The datagram: UDP header + 24 bytes; fragment 1 = UDP header + 16 bytes, fragment 2 = 8 bytes.
  Bytes whole = udp(kFromWork, 40000, 9999, Bytes(24, std::byte{7}));
  const Bytes l4(whole.begin() + 34, whole.end());
  auto frag = [](Ip4 h, uint16_t off_flags, Bytes body, uint8_t proto = 17) {
    h.frag = off_flags;
    return ip4_frame(h, proto, std::move(body), SIZE_MAX);
  };
  const Bytes first(l4.begin(), l4.begin() + 24), second(l4.begin() + 24, l4.end());
  EXPECT_EQ(client(kWork, frag(kFromWork, 0x2000, first)), std::nullopt);   // MF, offset 0
  EXPECT_EQ(client(kWork, frag(kFromWork, 0x0003, second)), std::nullopt);  // offset 24
  ASSERT_EQ(out.uplink.size(), 2u);
  // Out: the same bytes as the whole datagram masqueraded, cut the same way.
  const Bytes nat_whole = udp(kOutWork, 40000, 9999, Bytes(24, std::byte{7}));
  const Bytes nat_l4(nat_whole.begin() + 34, nat_whole.end());
  EXPECT_FRAME(out.uplink[0], frag(kOutWork, 0x2000, Bytes(nat_l4.begin(), nat_l4.begin() + 24)));
  EXPECT_FRAME(out.uplink[1], frag(kOutWork, 0x0003, Bytes(nat_l4.begin() + 24, nat_l4.end())));
  // A later fragment of another datagram (unknown id) is dropped.
  Ip4 other = kFromWork;
  other.id = 0x9999;
  EXPECT_EQ(client(kWork, frag(other, 0x0003, second)), DropReason::fragment_no_flow);
  // Back: the reply in two fragments.
  const Bytes reply = udp(kBackWork, 9999, 40000, Bytes(24, std::byte{9}));
  const Bytes rl4(reply.begin() + 34, reply.end());
  EXPECT_EQ(uplink(frag(kBackWork, 0x2000, Bytes(rl4.begin(), rl4.begin() + 24))), std::nullopt);
  EXPECT_EQ(uplink(frag(kBackWork, 0x0003, Bytes(rl4.begin() + 24, rl4.end()))), std::nullopt);
  ASSERT_EQ(out.vifs.size(), 2u);
  const Bytes in_whole = udp(kInWork, 9999, 40000, Bytes(24, std::byte{9}));
  const Bytes in_l4(in_whole.begin() + 34, in_whole.end());
  EXPECT_FRAME(out.vifs[1].second, frag(kInWork, 0x0003, Bytes(in_l4.begin() + 24, in_l4.end())));
  // A later fragment that comes first is dropped, bounded memory: nothing is buffered.
  Ip4 early = kBackWork;
  early.id = 0x4242;
  EXPECT_EQ(uplink(frag(early, 0x0003, Bytes(8))), DropReason::fragment_no_flow);
}


// ---- parity with Linux sys-firewall (docs/parity.md; tests/testbed/parity.sh measures both) --
// One test per row xfwd changed: the frame Linux refuses is refused with its reason, nothing
// goes out (or, where Linux answers, the same answer), and the frame next to it still passes.

Bytes with_dmac(Bytes f, const MacAddr& m) {
  std::memcpy(f.data(), m.b.data(), 6);
  return f;
}
// The frame's IPv4 header with these option bytes (a multiple of 4), checksum recomputed; the
// transport checksum does not cover options.
Bytes with_options(const Bytes& f, const Bytes& opts) {
  Bytes out = f;
  out.insert(out.begin() + 34, opts.begin(), opts.end());
  out[14] = std::byte(0x45 + opts.size() / 4);
  packet::wr16(out.data() + 16, uint16_t(out.size() - 14));
  packet::wr16(out.data() + 24, 0);
  packet::wr16(out.data() + 24, packet::checksum(std::span(out).subspan(14, 20 + opts.size())));
  return out;
}
Bytes bad_l4_checksum(Bytes f, std::size_t at) {  // at: the checksum's offset in the transport header
  f[34 + at] ^= std::byte{0x5a};
  return f;
}

TEST_F(PipelineTest, ParityIpToAnotherMacOrInABroadcastIsNotForwarded) {
  EXPECT_EQ(client(kWork, with_dmac(udp(kFromWork, 40000, 9), MacAddr{{2, 0, 0, 0, 0, 0x99}})), DropReason::eth_dst_other);
  EXPECT_EQ(client(kWork, with_dmac(udp(kFromWork, 40000, 9), kBroadcast)), DropReason::eth_dst_group);
  EXPECT_EQ(client(kWork, with_dmac(udp(kFromWork, 40000, 9), MacAddr{{1, 0, 0x5e, 0, 0, 1}})), DropReason::eth_dst_group);
  EXPECT_EQ(client(kWork, with_dmac(arp(1, kClientMac, "10.137.0.5", MacAddr{}, "10.137.0.1", kGwMac),
                                    MacAddr{{2, 0, 0, 0, 0, 0x99}})), DropReason::eth_dst_other);
  EXPECT_TRUE(out.uplink.empty());
  EXPECT_TRUE(out.vifs.empty());
  EXPECT_EQ(client(kWork, udp(kFromWork, 40000, 9)), std::nullopt);
  // From the uplink, a reply of that flow to another MAC or in a broadcast.
  EXPECT_EQ(uplink(with_dmac(udp(kBackWork, 9, 40000), MacAddr{{2, 0, 0, 0, 0, 0x99}})), DropReason::eth_dst_other);
  EXPECT_EQ(uplink(with_dmac(udp(kBackWork, 9, 40000), kBroadcast)), DropReason::eth_dst_group);
  EXPECT_TRUE(out.vifs.empty());
  EXPECT_EQ(uplink(udp(kBackWork, 9, 40000)), std::nullopt);
  EXPECT_EQ(out.vifs.size(), 1u);
}

TEST_F(PipelineTest, ParityDestinationsNoRouterForwards) {
  for (const char* d : {"127.0.0.1", "127.1.2.3", "0.0.0.0", "255.255.255.255"})
    EXPECT_EQ(client(kWork, udp(Ip4{"10.137.0.5", d}, 40000, 9)), DropReason::martian_destination) << d;
  for (const char* d : {"224.0.0.251", "239.1.2.3"})
    EXPECT_EQ(client(kWork, udp(Ip4{"10.137.0.5", d}, 40000, 9)), DropReason::multicast_destination) << d;
  // TTL 1 to a group (an IGMP report, say): dropped, and no time-exceeded about it.
  EXPECT_EQ(client(kWork, udp(Ip4{"10.137.0.5", "224.0.0.22", 1}, 40000, 9)), DropReason::multicast_destination);
  EXPECT_TRUE(out.uplink.empty());
  EXPECT_TRUE(out.vifs.empty());
  for (const char* d : {"0.1.2.3", "240.0.0.1", "169.254.1.1"})  // Linux forwards these
    EXPECT_EQ(client(kWork, udp(Ip4{"10.137.0.5", d}, 40000, 9)), std::nullopt) << d;
  // The firewall's uplink address is its own, as the gateway's: echo answered, the rest dropped.
  EXPECT_EQ(client(kWork, udp(Ip4{"10.137.0.5", "192.168.100.2"}, 40000, 9)), DropReason::to_gateway_not_echo);
  EXPECT_EQ(client(kWork, icmp(Ip4{"10.137.0.5", "192.168.100.2"}, 8, 0, 7, 1)), std::nullopt);
  EXPECT_EQ(out.uplink.size(), 3u);
  ASSERT_EQ(out.vifs.size(), 1u);
  Ip4 echo_back{"192.168.100.2", "10.137.0.5", 64, kGwMac, kClientMac};
  echo_back.id = 0;
  EXPECT_FRAME(out.vifs[0].second, icmp(echo_back, 0, 0, 7, 1));
}

TEST_F(PipelineTest, ParitySourceRoutesAndCipsoAreRefusedMalformedOptionsDropped) {
  const Bytes u = udp(kFromWork, 40000, 9);
  EXPECT_EQ(client(kWork, with_options(u, hex({1, 131, 7, 4, 192, 0, 2, 1}))), DropReason::ip_option_refused);  // LSRR
  EXPECT_EQ(client(kWork, with_options(u, hex({1, 137, 7, 4, 192, 0, 2, 1}))), DropReason::ip_option_refused);  // SSRR
  EXPECT_EQ(client(kWork, with_options(u, hex({134, 10, 0, 0, 0, 9, 1, 4, 0, 0, 0, 0}))), DropReason::ip_option_refused);
  EXPECT_EQ(client(kWork, with_options(u, hex({68, 0, 0, 0}))), DropReason::malformed);     // length 0
  EXPECT_EQ(client(kWork, with_options(u, hex({7, 40, 4, 0}))), DropReason::malformed);     // past the header
  EXPECT_EQ(client(kWork, with_options(u, hex({7, 7, 3, 0, 0, 0, 0, 0}))), DropReason::malformed);  // pointer < 4
  EXPECT_EQ(client(kWork, with_options(u, hex({68, 4, 4, 0}))), DropReason::malformed);     // timestamp pointer < 5
  EXPECT_TRUE(out.uplink.empty());
  // Forwarded as they are: no-op, record route, timestamp, router alert, unknown kinds.
  for (const Bytes& o : {hex({1, 1, 1, 1}), hex({1, 7, 7, 4, 0, 0, 0, 0}), hex({68, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0}),
                         hex({148, 4, 0, 0}), hex({30, 4, 0, 0})})
    EXPECT_EQ(client(kWork, with_options(u, o)), std::nullopt);
  EXPECT_EQ(out.uplink.size(), 5u);
  // From the uplink too: a reply carrying a source route.
  EXPECT_EQ(uplink(with_options(udp(kBackWork, 9, 40000), hex({1, 131, 7, 4, 192, 0, 2, 1}))), DropReason::ip_option_refused);
  EXPECT_TRUE(out.vifs.empty());
}

TEST_F(PipelineTest, ParityNoTimeExceededAboutAnIcmpErrorOrALaterFragment) {
  const Ip4 ttl1{"10.137.0.5", "192.0.2.1", 1};
  EXPECT_EQ(client(kWork, udp(ttl1, 40000, 9)), DropReason::ttl_exceeded);
  EXPECT_EQ(out.vifs.size(), 1u);  // the one RFC 792 asks for
  out.clear();
  EXPECT_EQ(client(kWork, icmp_error(ttl1, 3, 3, udp(Ip4{"192.0.2.1", "10.137.0.5"}, 9, 40000))), DropReason::ttl_exceeded);
  Ip4 later = ttl1;
  later.frag = 0x0003;
  EXPECT_EQ(client(kWork, ip4_frame(later, 17, Bytes(8), SIZE_MAX)), DropReason::ttl_exceeded);
  EXPECT_TRUE(out.vifs.empty());
  EXPECT_TRUE(out.uplink.empty());
}

TEST_F(PipelineTest, ParityChecksumsAreVerifiedUnlessLeftToUsOrVouchedFor) {
  EXPECT_EQ(client(kWork, bad_l4_checksum(udp(kFromWork, 40000, 9), 6)), DropReason::l4_bad_checksum);
  EXPECT_EQ(client(kWork, bad_l4_checksum(tcp(kFromWork, 40001, 80, 0x02), 16)), DropReason::l4_bad_checksum);
  EXPECT_EQ(client(kWork, bad_l4_checksum(icmp(kFromWork, 8, 0, 7, 1), 2)), DropReason::l4_bad_checksum);
  EXPECT_TRUE(out.uplink.empty());
  // A guest that leaves the checksum to us (csum_blank) or vouches for it (data_validated),
  // as Linux netback turns those into CHECKSUM_PARTIAL / CHECKSUM_UNNECESSARY.
  EXPECT_EQ(client(kWork, bad_l4_checksum(udp(kFromWork, 40002, 9), 6), 1000, netback::TxFlags{false, true, {}}), std::nullopt);
  EXPECT_EQ(client(kWork, bad_l4_checksum(udp(kFromWork, 40003, 9), 6), 1000, netback::TxFlags{true, true, {}}), std::nullopt);
  ASSERT_EQ(out.uplink.size(), 2u);
  EXPECT_FRAME(out.uplink[1], udp(kOutWork, 40003, 9));  // completed
  Bytes zero = udp(kFromWork, 40004, 9);  // UDP over IPv4 without a checksum (RFC 768)
  packet::wr16(zero.data() + 40, 0);
  EXPECT_EQ(client(kWork, zero), std::nullopt);
  // From the uplink: verified unless the kernel did (csum_valid).
  EXPECT_EQ(uplink(bad_l4_checksum(udp(kBackWork, 9, 40002), 6)), DropReason::l4_bad_checksum);
  EXPECT_TRUE(out.vifs.empty());
  EXPECT_EQ(pl.from_uplink(bad_l4_checksum(udp(kBackWork, 9, 40002), 6), 1000, false, true), std::nullopt);
  EXPECT_EQ(out.vifs.size(), 1u);
}

TEST_F(PipelineTest, ParityTcpFlagsAsConntrackJudgesThem) {
  constexpr uint8_t F = 0x01, S = 0x02, R = 0x04, P = 0x08, A = 0x10, U = 0x20, E = 0x40, C = 0x80;
  for (uint8_t f : {uint8_t(S | F), uint8_t(0), uint8_t(F), uint8_t(F | P | U), uint8_t(S | R), uint8_t(S | F | P | U)})
    EXPECT_EQ(client(kWork, tcp(kFromWork, 40000, 80, f)), DropReason::tcp_invalid_flags) << int(f);
  // Valid, but no connection: only a bare ACK is answered (RST); SYN+ACK, FIN+ACK, RST silently.
  for (uint8_t f : {uint8_t(S | A), uint8_t(F | A), uint8_t(R), uint8_t(R | A)})
    EXPECT_EQ(client(kWork, tcp(kFromWork, 40000, 80, f)), DropReason::tcp_not_syn) << int(f);
  EXPECT_TRUE(out.vifs.empty());
  EXPECT_EQ(client(kWork, tcp(kFromWork, 40000, 80, P | A)), DropReason::tcp_not_syn);
  EXPECT_EQ(out.vifs.size(), 1u);
  EXPECT_TRUE(out.uplink.empty());
  // SYN with URG, PSH, ECE+CWR opens a connection.
  for (uint8_t f : {uint8_t(S | U), uint8_t(S | P), uint8_t(S | E | C)})
    EXPECT_EQ(client(kWork, tcp(kFromWork, uint16_t(41000 + f), 80, f)), std::nullopt) << int(f);
  // On a connection, both ways: invalid flags are dropped and change nothing.
  EXPECT_EQ(uplink(tcp(kBackWork, 80, 41000 + (S | U), S | A, 5000, 1001)), std::nullopt);
  EXPECT_EQ(client(kWork, tcp(kFromWork, 41000 + (S | U), 80, S | F, 1001, 5001)), DropReason::tcp_invalid_flags);
  EXPECT_EQ(uplink(tcp(kBackWork, 80, 41000 + (S | U), S | F | A, 5000, 1001)), DropReason::tcp_invalid_flags);
  EXPECT_EQ(uplink(tcp(kBackWork, 80, 41000 + (S | U), 0, 5001, 1001)), DropReason::tcp_invalid_flags);
  EXPECT_EQ(client(kWork, tcp(kFromWork, 41000 + (S | U), 80, A, 1001, 5001)), std::nullopt);
  pl.conntrack().for_each([&](uint32_t, const nat::Flow& f) {
    if (f.orig.sport == 41000 + (S | U)) {
      EXPECT_EQ(f.tcp, nat::TcpState::established);
    }
  });
}

TEST(Conntrack, TcpValidFlagsAreLinuxs) {
  std::set<int> valid;
  for (int f = 0; f < 256; ++f)
    if (nat::tcp_flags_valid(uint8_t(f))) valid.insert(f & 0x37);  // ECE, CWR, PSH aside
  EXPECT_EQ(valid, (std::set<int>{0x02, 0x22, 0x12, 0x04, 0x14, 0x11, 0x31, 0x10, 0x30}));
}

TEST_F(PipelineTest, ParityIcmpOpensNothingButEcho) {
  for (int t : {0, 5, 9, 10, 13, 15, 17, 42, 200})
    EXPECT_EQ(client(kWork, icmp(kFromWork, uint8_t(t), 0, 7, 1)), DropReason::icmp_not_echo) << t;
  EXPECT_TRUE(out.uplink.empty());
  EXPECT_EQ(client(kWork, icmp(kFromWork, 8, 0, 4000, 1)), std::nullopt);  // identifier kept (in the range)
  // An echo request from the outside with that ping's identifier is no reply of it.
  EXPECT_EQ(uplink(icmp(kBackWork, 8, 0, 4000, 1)), DropReason::uplink_no_flow);
  EXPECT_EQ(uplink(icmp(kBackWork, 0, 0, 4000, 1)), std::nullopt);
  EXPECT_EQ(out.vifs.size(), 1u);
}

TEST_F(PipelineTest, ParityFragmentsNeitherOverlapNorComeTwiceNorEndPast64K) {
  auto frag = [](uint16_t id, uint16_t off_flags, Bytes body) {
    Ip4 h = kFromWork;
    h.id = id;
    h.frag = off_flags;
    return ip4_frame(h, 17, std::move(body), SIZE_MAX);
  };
  const Bytes whole = udp(kFromWork, 40000, 9, Bytes(40, std::byte{7}));
  const Bytes l4(whole.begin() + 34, whole.end());  // 48 bytes: 0..24, 24..32, 32..48
  const Bytes a(l4.begin(), l4.begin() + 24), b(l4.begin() + 24, l4.begin() + 32), c(l4.begin() + 32, l4.end());
  // In order, or the last before the middle: forwarded.
  EXPECT_EQ(client(kWork, frag(1, 0x2000, a)), std::nullopt);
  EXPECT_EQ(client(kWork, frag(1, 0x2000 | 3, b)), std::nullopt);
  EXPECT_EQ(client(kWork, frag(1, 4, c)), std::nullopt);
  EXPECT_EQ(client(kWork, frag(2, 0x2000, a)), std::nullopt);
  EXPECT_EQ(client(kWork, frag(2, 4, c)), std::nullopt);
  EXPECT_EQ(client(kWork, frag(2, 0x2000 | 3, b)), std::nullopt);
  EXPECT_EQ(out.uplink.size(), 6u);
  out.clear();
  // Overlapping what passed: refused, and the rest of that packet with it.
  EXPECT_EQ(client(kWork, frag(3, 0x2000, a)), std::nullopt);
  EXPECT_EQ(client(kWork, frag(3, 0x2000 | 2, b)), DropReason::fragment_overlap);  // 16..24 inside 0..24
  EXPECT_EQ(client(kWork, frag(3, 0x2000 | 3, b)), DropReason::fragment_no_flow);
  // A second first fragment of a packet already started.
  EXPECT_EQ(client(kWork, frag(4, 0x2000, a)), std::nullopt);
  EXPECT_EQ(client(kWork, frag(4, 0x2000, a)), DropReason::fragment_overlap);
  // Ending past 65535 bytes (offset 65528 + 16).
  EXPECT_EQ(client(kWork, frag(4, 8191, Bytes(16))), DropReason::malformed);
  EXPECT_EQ(out.uplink.size(), 2u);
}


// TCP window tracking as nf_conntrack_tcp does it (be_liberal off): what lies outside a
// connection's window is dropped and changes nothing of it.
TEST_F(PipelineTest, ParityTcpSegmentsOutsideTheWindowAreDropped) {
  constexpr uint8_t S = 0x02, R = 0x04, A = 0x10;
  auto state = [&] {
    nat::TcpState s = nat::TcpState::none;
    pl.conntrack().for_each([&](uint32_t, const nat::Flow& f) { s = f.tcp; });
    return s;
  };
  EXPECT_EQ(client(kWork, tcp(kFromWork, 40000, 80, S, 1000, 0)), std::nullopt);
  EXPECT_EQ(uplink(tcp(kBackWork, 80, 40000, S | A, 5000, 1001)), std::nullopt);
  EXPECT_EQ(client(kWork, tcp(kFromWork, 40000, 80, A, 1001, 5001)), std::nullopt);
  EXPECT_EQ(uplink(tcp(kBackWork, 80, 40000, A, 5001, 1001, Bytes(100))), std::nullopt);
  out.clear();
  // Windows are 65535 each way (no scaling): past what the client allows, acking what it never
  // sent, older than its window; the same from the client's side.
  EXPECT_EQ(uplink(tcp(kBackWork, 80, 40000, A, 5101 + 70000, 1001, Bytes(10))), DropReason::tcp_out_of_window);
  EXPECT_EQ(uplink(tcp(kBackWork, 80, 40000, A, 5101, 1001 + 5000, Bytes(10))), DropReason::tcp_out_of_window);
  EXPECT_EQ(uplink(tcp(kBackWork, 80, 40000, A, 5101 - 100000, 1001, Bytes(10))), DropReason::tcp_out_of_window);
  EXPECT_EQ(client(kWork, tcp(kFromWork, 40000, 80, A, 1001 + 70000, 5101, Bytes(10))), DropReason::tcp_out_of_window);
  // RSTs from the uplink: older than the client's ack, or far out of the window: dropped, the
  // connection stays.
  EXPECT_EQ(uplink(tcp(kBackWork, 80, 40000, R, 4000, 0)), DropReason::tcp_out_of_window);
  EXPECT_EQ(uplink(tcp(kBackWork, 80, 40000, R, 5101 + 1000000, 0)), DropReason::tcp_out_of_window);
  EXPECT_TRUE(out.vifs.empty());
  EXPECT_TRUE(out.uplink.empty());
  EXPECT_EQ(state(), nat::TcpState::established);
  // In the window: passes (the client acks the 100 bytes), and a RST at the edge ends it.
  EXPECT_EQ(client(kWork, tcp(kFromWork, 40000, 80, A, 1001, 5101)), std::nullopt);
  EXPECT_EQ(uplink(tcp(kBackWork, 80, 40000, R, 5101, 0)), std::nullopt);
  EXPECT_EQ(state(), nat::TcpState::closed);
}

// A SYN with the window scale option: a TCP header with options [3, 3, scale, 1 (no-op)].
Bytes tcp_wscale(const Ip4& h, uint16_t sport, uint16_t dport, uint8_t flags, uint32_t seq, uint32_t ack, uint8_t scale) {
  Bytes t = tcp_segment(sport, dport, flags, seq, ack);
  t[12] = std::byte{0x60};
  append(t, hex({3, 3, scale, 1}));
  return ip4_frame(h, packet::ipproto::tcp, t, 16);
}

TEST_F(PipelineTest, ParityTcpWindowScaleWhenBothSidesOfferIt) {
  constexpr uint8_t S = 0x02, A = 0x10;
  for (const bool both : {true, false}) {
    const uint16_t port = both ? 40010 : 40011;
    EXPECT_EQ(client(kWork, tcp_wscale(kFromWork, port, 80, S, 1000, 0, 7)), std::nullopt);
    EXPECT_EQ(uplink(both ? tcp_wscale(kBackWork, 80, port, S | A, 5000, 1001, 7) : tcp(kBackWork, 80, port, S | A, 5000, 1001)), std::nullopt);
    EXPECT_EQ(client(kWork, tcp(kFromWork, port, 80, A, 1001, 5001, {}, 1000)), std::nullopt);  // 1000 << 7 = 128000
    // 100 000 bytes ahead: inside 128 000, outside 1 000 unscaled.
    EXPECT_EQ(uplink(tcp(kBackWork, 80, port, A, 5001 + 100000, 1001, Bytes(10))),
              both ? std::nullopt : std::optional{DropReason::tcp_out_of_window}) << both;
  }
}

TEST_F(PipelineTest, ParityTcpSynAfterBothFinsOpensANewConnection) {
  constexpr uint8_t F = 0x01, S = 0x02, A = 0x10;
  EXPECT_EQ(client(kWork, tcp(kFromWork, 40000, 80, S, 1000, 0)), std::nullopt);
  EXPECT_EQ(uplink(tcp(kBackWork, 80, 40000, S | A, 5000, 1001)), std::nullopt);
  EXPECT_EQ(client(kWork, tcp(kFromWork, 40000, 80, A, 1001, 5001)), std::nullopt);
  EXPECT_EQ(client(kWork, tcp(kFromWork, 40000, 80, F | A, 1001, 5001)), std::nullopt);
  EXPECT_EQ(uplink(tcp(kBackWork, 80, 40000, F | A, 5001, 1002)), std::nullopt);
  EXPECT_EQ(client(kWork, tcp(kFromWork, 40000, 80, A, 1002, 5002)), std::nullopt);
  // The same ports again with a new initial sequence number, far from the old window.
  EXPECT_EQ(client(kWork, tcp(kFromWork, 40000, 80, S, 900000000, 0)), std::nullopt);
  EXPECT_EQ(uplink(tcp(kBackWork, 80, 40000, S | A, 7000, 900000001)), std::nullopt);
  EXPECT_EQ(pl.conntrack().size(), 1u);
  pl.conntrack().for_each([](uint32_t, const nat::Flow& f) { EXPECT_EQ(f.tcp, nat::TcpState::syn_recv); });
}

}  // namespace
}  // namespace xfw::firewall

// ---- across a restart (firewall/saved_state.h) ----------------------------------------------
// A second pipeline stands for the restarted xfwd: another seed, its vifs in other slots, no
// ARP answer yet. What it adopts must forward byte for byte as before.
namespace xfw::firewall {
namespace {

const netback::VifId kWorkAfter{3, 9}, kUntrustedAfter{4, 9};

netback::VifInfo work_vif(netback::VifId id, uint16_t domid = 5) {
  return netback::VifInfo{id, xen::DomId{domid}, 0, "work", kClientMac, xen::IpList{{*Ipv4Addr::parse("10.137.0.5")}, {}}};
}
netback::VifInfo untrusted_vif(netback::VifId id) {
  return netback::VifInfo{id, xen::DomId{6}, 0, "untrusted", kClientMac, xen::IpList{{*Ipv4Addr::parse("10.137.0.6")}, {}}};
}

struct Restarted {
  explicit Restarted(PipelineConfig c = config()) : pl(c, out, 7) {}
  // work's rules, its vif back, `s` restored and adopted at 2000.
  std::optional<std::string> adopt(const SavedState& s, const char* work_rule) {
    pl.set_rules("work", rules({work_rule}));
    pl.vif_up(work_vif(kWorkAfter), 2000);
    pl.restore(s);
    return pl.adopt_saved(2000);
  }
  Recorder out;
  Pipeline pl;
};

uint16_t udp_sport(const Bytes& f) { return packet::rd16(f.data() + 34); }

TEST_F(PipelineTest, RestartKeepsConnectionsWithTheirNatPorts) {
  pl.set_rules("untrusted", rules({"action=accept"}));
  const Ip4 from6{"10.137.0.6", "192.0.2.1"};
  ASSERT_EQ(client(kWork, tcp(kFromWork, 40000, 80, 0x02)), std::nullopt);
  ASSERT_EQ(uplink(tcp(kBackWork, 80, 40000, 0x12, 5000, 1001)), std::nullopt);
  ASSERT_EQ(client(kWork, tcp(kFromWork, 40000, 80, 0x10, 1001, 5001)), std::nullopt);
  ASSERT_EQ(client(kWork, udp(kFromWork, 40000, 9999)), std::nullopt);
  ASSERT_EQ(client(kUntrusted, udp(from6, 40000, 9999)), std::nullopt);
  const uint16_t untrusted_port = udp_sport(out.uplink.back());
  ASSERT_NE(untrusted_port, 40000);  // the port was taken: NAT chose another
  const SavedState saved = pl.save(2000);
  EXPECT_EQ(saved.flows.size(), 3u);
  ASSERT_TRUE(saved.gateway_mac);

  Restarted r;
  r.pl.set_rules("work", rules({"action=accept"}));
  r.pl.set_rules("untrusted", rules({"action=accept"}));
  r.pl.vif_up(work_vif(kWorkAfter), 2500);
  r.pl.vif_up(untrusted_vif(kUntrustedAfter), 2500);
  r.pl.restore(saved);
  EXPECT_EQ(r.pl.from_client(kWorkAfter, tcp(kFromWork, 40000, 80, 0x10, 1001, 5001), {}, 2500), DropReason::tcp_not_syn)
      << "nothing saved forwards before it is adopted";
  EXPECT_TRUE(r.out.vifs.empty()) << "and no RST ends it meanwhile";
  EXPECT_EQ(r.pl.adopt_saved(2600), std::nullopt);
  EXPECT_EQ(r.pl.adopt_stats().adopted, 3u);
  EXPECT_EQ(r.pl.conntrack().size(), 3u);
  r.out.clear();
  // The established connection goes on: same NAT port, no ARP needed (the gateway MAC came back).
  EXPECT_EQ(r.pl.from_client(kWorkAfter, tcp(kFromWork, 40000, 80, 0x10, 1001, 5001), {}, 3000), std::nullopt);
  ASSERT_EQ(r.out.uplink.size(), 1u);
  EXPECT_FRAME(r.out.uplink[0], tcp(kOutWork, 40000, 80, 0x10, 1001, 5001));
  EXPECT_EQ(r.pl.from_uplink(tcp(kBackWork, 80, 40000, 0x10, 5001, 1001), 3000), std::nullopt);
  EXPECT_EQ(r.pl.from_uplink(udp(kBackWork, 9999, untrusted_port), 3000), std::nullopt);
  ASSERT_EQ(r.out.vifs.size(), 2u);
  EXPECT_EQ(r.out.vifs[0].first, kWorkAfter);
  EXPECT_FRAME(r.out.vifs[0].second, tcp(kInWork, 80, 40000, 0x10, 5001, 1001));
  EXPECT_EQ(r.out.vifs[1].first, kUntrustedAfter);
  Ip4 in6 = kInWork;
  in6.dst = "10.137.0.6";
  EXPECT_FRAME(r.out.vifs[1].second, udp(in6, 9999, 40000));
  // The timers came along: work's UDP flow, unanswered since its only packet at 1000, ends
  // 30 s after it, not 30 s after the restart.
  EXPECT_EQ(r.pl.from_uplink(udp(kBackWork, 9999, 40000), 1000 + 30'000 + 1), DropReason::uplink_no_flow);
  EXPECT_EQ(r.pl.from_client(kWorkAfter, tcp(kFromWork, 40000, 80, 0x10, 1001, 5001), {}, 1000 + 30'000 + 1), std::nullopt);
}

TEST_F(PipelineTest, RestartCutsWhatTheRulesNoLongerAllow) {
  ASSERT_EQ(client(kWork, tcp(kFromWork, 40000, 80, 0x02)), std::nullopt);
  ASSERT_EQ(client(kWork, udp(kFromWork, 40000, 9999)), std::nullopt);
  Restarted r;
  EXPECT_EQ(r.adopt(pl.save(2000), "action=accept proto=udp"), std::nullopt);
  EXPECT_EQ(r.pl.adopt_stats().adopted, 1u);
  EXPECT_EQ(r.pl.adopt_stats().forbidden, 1u);
  EXPECT_EQ(r.pl.from_client(kWorkAfter, tcp(kFromWork, 40000, 80, 0x10, 1001, 1), {}, 2000), DropReason::tcp_not_syn);
  ASSERT_EQ(r.out.vifs.size(), 1u) << "cut, as on a rule change: the next segment gets a RST";
  EXPECT_EQ(r.pl.from_client(kWorkAfter, udp(kFromWork, 40000, 9999), {}, 2000), std::nullopt);
}

TEST_F(PipelineTest, RestartAdoptsOnlyForTheSameVifAndWaitsForIt) {
  ASSERT_EQ(client(kWork, tcp(kFromWork, 40000, 80, 0x02)), std::nullopt);
  const SavedState saved = pl.save(2000);
  {  // Another VM (another domain) now has work's address: not its connection.
    Restarted r;
    r.pl.set_rules("work", rules({"action=accept"}));
    r.pl.vif_up(work_vif(kWorkAfter, 15), 2000);
    r.pl.restore(saved);
    EXPECT_EQ(r.pl.adopt_saved(2000), std::nullopt);
    EXPECT_EQ(r.pl.adopt_stats().adopted, 0u);
    EXPECT_EQ(r.pl.adopt_stats().waiting, 1u);
    EXPECT_EQ(r.pl.from_client(kWorkAfter, tcp(kFromWork, 40000, 80, 0x10, 1001, 1), {}, 2000), DropReason::tcp_not_syn);
    EXPECT_EQ(r.pl.save(2000).flows.size(), 1u) << "a connection waiting for its vif is still kept";
    r.pl.tick(2000 + Pipeline::kAdoptWaitMs);
    EXPECT_EQ(r.pl.adopt_stats().abandoned, 1u);
    EXPECT_EQ(r.pl.save(2000 + Pipeline::kAdoptWaitMs).flows.size(), 0u);
  }
  {  // The vif comes back after the rules are known: adopted then.
    Restarted r;
    r.pl.set_rules("work", rules({"action=accept"}));
    r.pl.restore(saved);
    EXPECT_EQ(r.pl.adopt_saved(2000), std::nullopt);
    EXPECT_EQ(r.pl.adopt_stats().waiting, 1u);
    r.pl.vif_up(work_vif(kWorkAfter), 2100);
    EXPECT_EQ(r.pl.adopt_stats().adopted, 1u);
    EXPECT_EQ(r.pl.from_client(kWorkAfter, tcp(kFromWork, 40000, 80, 0x10, 1001, 1), {}, 2200), std::nullopt);
  }
}

TEST_F(PipelineTest, RestartRefusesAStateOfAnotherConfiguration) {
  ASSERT_EQ(client(kWork, tcp(kFromWork, 40000, 80, 0x02)), std::nullopt);
  PipelineConfig c = config();
  c.uplink_addr = Ipv4Addr::parse("192.168.100.3");
  Restarted r(c);
  const auto why = r.adopt(pl.save(2000), "action=accept");
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("written for uplink=192.168.100.2 "), std::string::npos) << *why;
  EXPECT_NE(why->find("now uplink=192.168.100.3 "), std::string::npos) << *why;
  EXPECT_EQ(r.pl.conntrack().size(), 0u);
  EXPECT_FALSE(r.pl.gateway_mac()) << "nothing of a refused state is used";
}

TEST_F(PipelineTest, RestartHoldsThePerVmLimit) {
  for (uint16_t port = 40000; port < 40003; ++port) ASSERT_EQ(client(kWork, udp(kFromWork, port, 9999)), std::nullopt);
  PipelineConfig c = config();
  c.limits.max_flows_per_vif = 2;
  Restarted r(c);
  EXPECT_EQ(r.adopt(pl.save(2000), "action=accept"), std::nullopt);
  EXPECT_EQ(r.pl.adopt_stats().adopted, 2u);
  EXPECT_EQ(r.pl.adopt_stats().refused, 1u);
  EXPECT_EQ(r.pl.conntrack().vif_flows(kWorkAfter.slot), 2u);
}

TEST_F(PipelineTest, RestartKeepsResolvedNamesAndFragmentBindings) {
  pl.set_rules("work", rules({"action=accept proto=tcp dsthost=updates.example", "action=accept proto=udp"}));
  pl.tick(1000);  // the queries are in flight
  // (The answer's path is DsthostIsResolvedThroughTheUplink's; here the resolver's result is
  // set as the pipeline gets it.)
  pl.set_resolved("updates.example", Resolved{{*Ipv4Addr::parse("192.0.2.1")}, {}});
  ASSERT_EQ(client(kWork, tcp(kFromWork, 40000, 443, 0x02)), std::nullopt);
  auto frag = [](Ip4 h, uint16_t off_flags, Bytes body) {
    h.frag = off_flags;
    return ip4_frame(h, 17, std::move(body), SIZE_MAX);
  };
  Bytes whole = udp(kFromWork, 40001, 9999, Bytes(24, std::byte{7}));
  const Bytes l4(whole.begin() + 34, whole.end());
  ASSERT_EQ(client(kWork, frag(kFromWork, 0x2000, Bytes(l4.begin(), l4.begin() + 24))), std::nullopt);
  SavedState saved = pl.save(2000);
  ASSERT_EQ(saved.fragments.size(), 1u);
  EXPECT_TRUE(saved.hosts.empty()) << "set_resolved is not the resolver's answer: nothing to keep";
  // What the resolver had answered: the address and when to ask again.
  saved.hosts.push_back(SavedHost{"updates.example", Resolved{{*Ipv4Addr::parse("192.0.2.1")}, {}}, 300'000, 300'000});

  Restarted r;
  r.pl.set_rules("work", rules({"action=accept proto=tcp dsthost=updates.example", "action=accept proto=udp"}));
  r.pl.vif_up(work_vif(kWorkAfter), 2000);
  r.pl.restore(saved);
  EXPECT_EQ(r.pl.adopt_saved(2000), std::nullopt);
  EXPECT_EQ(r.pl.adopt_stats().adopted, 2u) << "the dsthost flow is not cut: its name's address came back";
  EXPECT_EQ(r.pl.from_client(kWorkAfter, tcp(kFromWork, 40002, 443, 0x02), {}, 2100), std::nullopt);
  r.out.clear();
  r.pl.tick(2100);
  for (const auto& f : r.out.uplink) {
    const auto p = std::get<packet::Parsed>(packet::parse(f));
    EXPECT_FALSE(p.l3 == packet::L3::ipv4 && p.proto == 17 && p.dport == 53) << "asked again before its TTL";
  }
  EXPECT_EQ(r.pl.from_client(kWorkAfter, frag(kFromWork, 0x0003, Bytes(l4.begin() + 24, l4.end())), {}, 2200), std::nullopt);
  EXPECT_EQ(r.pl.save(2200).fragments.size(), 1u);
}

}  // namespace
}  // namespace xfw::firewall
