// The client-side stage and the reply builders: frames in, verdicts and frames out.
#include <gtest/gtest.h>

#include "firewall/client.h"
#include "packet/build.h"
#include "tests/support/frames.h"

namespace xfw::firewall {
namespace {

using namespace xfw::testing;
using packet::Ipv4Addr;
using packet::Ipv6Addr;

class Client : public ::testing::Test {
 protected:
  Verdict run(const Bytes& f) {
    const auto r = packet::parse(f);
    EXPECT_TRUE(std::holds_alternative<packet::Parsed>(r));
    reply_.assign(packet::kMaxReply, std::byte{0});
    return client_ingress(vif_, gw_, f, std::get<packet::Parsed>(r), reply_);
  }
  DropReason dropped(const Bytes& f) {
    const auto v = run(f);
    EXPECT_TRUE(std::holds_alternative<Drop>(v));
    return std::holds_alternative<Drop>(v) ? std::get<Drop>(v).reason : DropReason{};
  }
  Bytes replied(const Bytes& f) {
    const auto v = run(f);
    EXPECT_TRUE(std::holds_alternative<Reply>(v));
    if (!std::holds_alternative<Reply>(v)) return {};
    return Bytes(reply_.begin(), reply_.begin() + long(std::get<Reply>(v).len));
  }

  ClientVif vif_{{*Ipv4Addr::parse("10.137.0.5")}, {}};
  Gateway gw_{*Ipv4Addr::parse("10.137.0.1"), *Ipv6Addr::parse("fd09:24ef:4179::a89:1"), false, nullptr, {}, {}};
  Bytes reply_;
};

TEST_F(Client, ProxyArpAnswersEveryOtherAddressWithTheGatewayMac) {
  const Bytes golden = hex({
      0x00, 0x16, 0x3e, 0x5e, 0x6c, 0x00, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0x08, 0x06,  // eth
      0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02,                                      // reply
      0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 10, 137, 0, 1,                                  // sender
      0x00, 0x16, 0x3e, 0x5e, 0x6c, 0x00, 10, 137, 0, 5});                                // target
  EXPECT_EQ(replied(arp_request("10.137.0.5", "10.137.0.1")), golden);
  const auto other = replied(arp_request("10.137.0.5", "10.137.0.77"));  // another VM: us too
  EXPECT_EQ(other.size(), 42u);
  EXPECT_EQ(other[14 + 14 + 3], std::byte{77});
}

TEST_F(Client, ArpThatIsNotAnHonestRequestIsIgnored) {
  EXPECT_EQ(dropped(arp_request("10.137.0.5", "10.137.0.5")), DropReason::arp_gratuitous);
  EXPECT_EQ(dropped(arp_request("10.137.0.5", "10.137.0.1", 2)), DropReason::arp_not_request);
  EXPECT_EQ(dropped(arp_request("10.137.0.9", "10.137.0.1")), DropReason::arp_spoofed);
  vif_.v4.push_back(*Ipv4Addr::parse("10.137.0.6"));
  EXPECT_EQ(dropped(arp_request("10.137.0.5", "10.137.0.6")), DropReason::arp_for_own_address);
}

TEST_F(Client, AntiSpoofingComesFirst) {
  const Bytes spoofed = ipv4(packet::ipproto::icmp, hex({8, 0, 0, 0, 0, 1, 0, 1}), 0, {},
                             *Ipv4Addr::parse("10.137.0.9"), *Ipv4Addr::parse("10.137.0.1"));
  EXPECT_EQ(dropped(spoofed), DropReason::spoofed_source);  // even a ping to the gateway
  EXPECT_TRUE(std::holds_alternative<Continue>(run(udp4(hex({1, 2, 3})))));
}

TEST_F(Client, GatewayAnswersEchoAndNothingElse) {
  Bytes echo_l4 = hex({8, 0, 0, 0, 0x12, 0x34, 0, 7, 'p', 'i', 'n', 'g'});
  packet::wr16(echo_l4.data() + 2, packet::checksum(echo_l4));
  const auto gw = *Ipv4Addr::parse("10.137.0.1"), me = *Ipv4Addr::parse("10.137.0.5");
  const Bytes r = replied(ipv4(packet::ipproto::icmp, echo_l4, 0, {}, me, gw));
  const auto p = std::get<packet::Parsed>(packet::parse(r));  // parses: header checksum ok
  EXPECT_EQ(p.src4, gw);
  EXPECT_EQ(p.dst4, me);
  EXPECT_EQ(p.icmp_type, 0);
  EXPECT_EQ(p.sport, 0x1234);
  EXPECT_EQ(p.dst_mac.str(), "00:16:3e:5e:6c:00");
  EXPECT_TRUE(packet::l4_checksum_ok(r, p));
  EXPECT_EQ(r.size(), 14u + 20 + 12);
  const Bytes tcp = hex({0x9c, 0x40, 0, 22, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 1, 0, 0, 0, 0, 0});
  EXPECT_EQ(dropped(ipv4(packet::ipproto::tcp, tcp, 0, {}, me, gw)),
            DropReason::to_gateway_not_echo);
}

TEST_F(Client, DhcpRouterAdvertsAndUnassignedIpv6AreDropped) {
  EXPECT_EQ(dropped(udp4(hex({1}), 67)), DropReason::dhcp_from_client);
  const Bytes ra = hex({134, 0, 0, 0, 64, 0, 0, 0});
  EXPECT_EQ(dropped(ipv6(packet::ipproto::icmpv6, ra)), DropReason::ipv6_not_assigned);
  vif_.v6.push_back(*Ipv6Addr::parse("fd09:24ef:4179::a89:5"));
  EXPECT_EQ(dropped(ipv6(packet::ipproto::icmpv6, ra)), DropReason::router_advert_from_client);
  EXPECT_EQ(dropped(ipv6(packet::ipproto::icmpv6, ra, *Ipv6Addr::parse("fd09::66"))),
            DropReason::spoofed_source);
  EXPECT_TRUE(std::holds_alternative<Continue>(
      run(ipv6(packet::ipproto::icmpv6, hex({128, 0, 0, 0, 0, 1, 0, 1})))));
  EXPECT_EQ(dropped(ether(packet::ethertype::vlan)), DropReason::unsupported_ethertype);
}

// A neighbor solicitation (RFC 4861 §4.3) from `src` for `target`, hop limit 255.
Bytes neighbor_solicitation(const char* src, const char* target) {
  const auto s6 = *Ipv6Addr::parse(src), t6 = *Ipv6Addr::parse(target);
  const Ipv6Addr group{{0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, t6.b[13], t6.b[14], t6.b[15]}};
  Bytes icmp = hex({135, 0, 0, 0, 0, 0, 0, 0});
  for (auto b : t6.b) icmp.push_back(std::byte(b));
  append(icmp, hex({1, 1, 0x00, 0x16, 0x3e, 0x5e, 0x6c, 0x00}));
  packet::wr16(icmp.data() + 2, packet::checksum(icmp, packet::pseudo_v6(s6, group, 58, uint32_t(icmp.size()))));
  Bytes f = ether(packet::ethertype::ipv6);
  Bytes ip = hex({0x60, 0, 0, 0, 0, int(icmp.size()), 58, 255});
  for (auto b : s6.b) ip.push_back(std::byte(b));
  for (auto b : group.b) ip.push_back(std::byte(b));
  append(f, ip);
  append(f, icmp);
  return f;
}

TEST_F(Client, ProxyNdpAnswersEveryOtherAddressButLetsDadSucceed) {
  vif_.v6.push_back(*Ipv6Addr::parse("fd09:24ef:4179::a89:5"));
  const Bytes na = replied(neighbor_solicitation("fe80::216:3eff:fe5e:6c00", "fd09:24ef:4179::a89:1"));
  const auto r = packet::parse(na);
  ASSERT_TRUE(std::holds_alternative<packet::Parsed>(r));
  const auto& p = std::get<packet::Parsed>(r);
  EXPECT_EQ(p.icmp_type, 136);
  EXPECT_EQ(p.ttl, 255);
  EXPECT_TRUE(p.has_nd_target);
  EXPECT_EQ(p.nd_target, *Ipv6Addr::parse("fd09:24ef:4179::a89:1"));
  EXPECT_EQ(p.src6, p.nd_target);
  EXPECT_EQ(p.dst6, *Ipv6Addr::parse("fe80::216:3eff:fe5e:6c00"));
  EXPECT_EQ(p.dst_mac.str(), "00:16:3e:5e:6c:00");
  EXPECT_TRUE(packet::l4_checksum_ok(na, p));
  EXPECT_EQ(Bytes(na.end() - 6, na.end()), hex({0xfe, 0xff, 0xff, 0xff, 0xff, 0xff}));  // target LL
  // Duplicate address detection for its own address gets no answer; neither do RS and NA.
  EXPECT_EQ(dropped(neighbor_solicitation("::", "fd09:24ef:4179::a89:5")), DropReason::nd_ignored);
  Bytes rs = neighbor_solicitation("fe80::1", "fd09::1");
  rs[54] = std::byte{133};
  EXPECT_EQ(dropped(rs), DropReason::nd_ignored);
  // Other link-local traffic (an MLD report) is not forwarded, and not counted as spoofing.
  Bytes mld = neighbor_solicitation("fe80::1", "fd09::1");
  mld[54] = std::byte{143};
  EXPECT_EQ(dropped(mld), DropReason::ipv6_link_local);
  // Without IPv6, nothing is answered.
  vif_.v6.clear();
  EXPECT_EQ(dropped(neighbor_solicitation("fe80::1", "fd09::1")), DropReason::ipv6_not_assigned);
}

TEST(Build, IcmpErrorQuotesTheOffendingPacket) {
  const Bytes f = udp4(hex({1, 2, 3}));
  const auto p = std::get<packet::Parsed>(packet::parse(f));
  Bytes out(packet::kMaxReply);
  const auto n = packet::icmp4_error(out, f, p, *Ipv4Addr::parse("10.137.0.1"), 3, 13);
  out.resize(n);
  const auto r = std::get<packet::Parsed>(packet::parse(out));
  EXPECT_EQ(r.icmp_type, 3);
  EXPECT_EQ(r.icmp_code, 13);
  EXPECT_EQ(r.dst4.str(), "10.137.0.5");
  EXPECT_TRUE(packet::l4_checksum_ok(out, r));
  // The quoted packet is the original IP packet, header and payload.
  EXPECT_TRUE(std::equal(f.begin() + 14, f.end(), out.begin() + 14 + 20 + 8));
}

TEST(Build, IcmpErrorFitsIn576Bytes) {
  const Bytes f = udp4(Bytes(1400, std::byte{7}));
  const auto p = std::get<packet::Parsed>(packet::parse(f));
  Bytes out(packet::kMaxReply);
  const auto n = packet::icmp4_error(out, f, p, *Ipv4Addr::parse("10.137.0.1"), 3, 13);
  EXPECT_EQ(n, 14u + 576);
  out.resize(n);
  const auto r = std::get<packet::Parsed>(packet::parse(out));
  EXPECT_TRUE(packet::l4_checksum_ok(out, r));
}

TEST(Build, TcpResetFollowsRfc9293) {
  const auto me = *Ipv4Addr::parse("10.137.0.5"), them = *Ipv4Addr::parse("192.0.2.1");
  auto seg = [&](uint8_t flags, uint32_t seq, uint32_t ack, std::size_t payload) {
    Bytes t = hex({0x9c, 0x40, 1, 0xbb, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, flags, 1, 0, 0, 0, 0, 0});
    packet::wr32(t.data() + 4, seq);
    packet::wr32(t.data() + 8, ack);
    t.resize(20 + payload, std::byte{1});
    return ipv4(packet::ipproto::tcp, t, 0, {}, me, them);
  };
  Bytes out(packet::kMaxReply);
  // A SYN (no ACK): RST|ACK with ack = seq + 1.
  Bytes syn = seg(0x02, 1000, 0, 0);
  auto p = std::get<packet::Parsed>(packet::parse(syn));
  out.resize(packet::tcp_rst(out, syn, p));
  auto r = std::get<packet::Parsed>(packet::parse(out));
  EXPECT_EQ(r.tcp_flags, 0x14);
  EXPECT_EQ(packet::rd32(out.data() + r.l4_off + 8), 1001u);
  EXPECT_EQ(r.sport, 443);
  EXPECT_EQ(r.dport, 40000);
  EXPECT_TRUE(packet::l4_checksum_ok(out, r));
  // A data segment with ACK: RST with seq = its ack.
  Bytes data = seg(0x18, 5000, 777, 10);
  p = std::get<packet::Parsed>(packet::parse(data));
  out.assign(packet::kMaxReply, std::byte{0});
  out.resize(packet::tcp_rst(out, data, p));
  r = std::get<packet::Parsed>(packet::parse(out));
  EXPECT_EQ(r.tcp_flags, 0x04);
  EXPECT_EQ(packet::rd32(out.data() + r.l4_off + 4), 777u);
  EXPECT_TRUE(packet::l4_checksum_ok(out, r));
}

}  // namespace
}  // namespace xfw::firewall
