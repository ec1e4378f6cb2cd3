// [firewall] dhcp: a client that asks gets exactly its vif's address and nothing else of DHCP
// (firewall/dhcp.h); with the option off, DHCP stays dropped as before.
#include <gtest/gtest.h>

#include <cstring>

#include "firewall/client.h"
#include "firewall/dhcp.h"
#include "packet/build.h"
#include "tests/support/packets.h"

namespace {

using namespace xfw;
using namespace xfw::testing;
using firewall::DropReason;
using packet::Ipv4Addr;

const packet::MacAddr kBroadcast{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
const std::vector<Ipv4Addr> kDns{*Ipv4Addr::parse("10.139.1.1"), *Ipv4Addr::parse("10.139.1.2")};

// A DHCP message from the client: type, optional requested address (50) and server (54), as
// udhcpc sends them.
struct Msg {
  uint8_t type = firewall::kDhcpDiscover;
  const char* requested = nullptr;
  const char* server = nullptr;
  const char* ciaddr = "0.0.0.0";
  const char* src = "0.0.0.0";
  const char* dst = "255.255.255.255";
  bool broadcast = false;
  packet::MacAddr chaddr = kClientMac;
  bool end = true;
  uint8_t op = 1;
};

Bytes dhcp(const Msg& m) {
  Bytes b(240);
  b[0] = std::byte{m.op};
  b[1] = std::byte{1};
  b[2] = std::byte{6};
  packet::wr32(b.data() + 4, 0x12345678);  // xid
  if (m.broadcast) b[10] = std::byte{0x80};
  const auto ci = *Ipv4Addr::parse(m.ciaddr);
  std::memcpy(b.data() + 12, ci.b.data(), 4);
  std::memcpy(b.data() + 28, m.chaddr.b.data(), 6);
  packet::wr32(b.data() + 236, 0x63825363);
  append(b, hex({53, 1, m.type}));
  auto addr_opt = [&](uint8_t code, const char* a) {
    const auto ip = *Ipv4Addr::parse(a);
    append(b, hex({code, 4, ip.b[0], ip.b[1], ip.b[2], ip.b[3]}));
  };
  if (m.requested) addr_opt(50, m.requested);
  if (m.server) addr_opt(54, m.server);
  if (m.end) append(b, hex({255}));
  return udp(Ip4{m.src, m.dst, 64, kClientMac, kBroadcast}, 68, 67, b);
}

struct Answer {
  firewall::Verdict v;
  Bytes frame;
};

Answer ask(const Bytes& f, bool on = true) {
  const firewall::ClientVif vif{{*Ipv4Addr::parse("10.137.0.5")}, {}};
  const firewall::Gateway gw{*Ipv4Addr::parse("10.137.0.1"), std::nullopt, on, &kDns, {}, {}};
  std::vector<std::byte> reply(packet::kMaxReply);
  const auto p = std::get<packet::Parsed>(packet::parse(f));
  Answer a{firewall::client_ingress(vif, gw, f, p, reply), {}};
  if (const auto* r = std::get_if<firewall::Reply>(&a.v)) a.frame.assign(reply.begin(), reply.begin() + long(r->len));
  return a;
}

std::optional<DropReason> dropped(const Answer& a) {
  if (const auto* d = std::get_if<firewall::Drop>(&a.v)) return d->reason;
  return std::nullopt;
}

// The option `code` of a reply, its bytes.
Bytes option(const Bytes& frame, uint8_t code) {
  for (std::size_t i = 14 + 20 + 8 + 240; i + 1 < frame.size() && frame[i] != std::byte{255};) {
    const std::size_t len = uint8_t(frame[i + 1]);
    if (uint8_t(frame[i]) == code) return Bytes(frame.begin() + long(i + 2), frame.begin() + long(i + 2 + len));
    i += 2 + len;
  }
  return {};
}

std::string addr_at(const Bytes& f, std::size_t off) {
  Ipv4Addr a;
  std::memcpy(a.b.data(), f.data() + off, 4);
  return a.str();
}
constexpr std::size_t kBootp = 14 + 20 + 8;

TEST(Dhcp, OffByDefaultAsBefore) {
  EXPECT_EQ(dropped(ask(dhcp({}), false)), DropReason::spoofed_source);  // from 0.0.0.0
  EXPECT_EQ(dropped(ask(dhcp({.src = "10.137.0.5", .dst = "10.137.0.1"}), false)), DropReason::dhcp_from_client);
}

TEST(Dhcp, DiscoverGetsTheVifsAddressTheGatewayAndTheVirtualDns) {
  const auto a = ask(dhcp({}));
  ASSERT_FALSE(a.frame.empty()) << "no reply";
  const auto p = std::get<packet::Parsed>(packet::parse(a.frame));
  EXPECT_EQ(p.src_mac, firewall::kGatewayMac);
  EXPECT_EQ(p.dst_mac, kClientMac);
  EXPECT_EQ(p.src4.str(), "10.137.0.1");
  EXPECT_EQ(p.dst4.str(), "10.137.0.5");  // no broadcast flag: to the address offered
  EXPECT_EQ(p.sport, 67);
  EXPECT_EQ(p.dport, 68);
  EXPECT_TRUE(packet::l4_checksum_ok(a.frame, p));
  EXPECT_EQ(uint8_t(a.frame[kBootp]), 2);                       // BOOTREPLY
  EXPECT_EQ(packet::rd32(a.frame.data() + kBootp + 4), 0x12345678u);  // its xid
  EXPECT_EQ(addr_at(a.frame, kBootp + 16), "10.137.0.5");       // yiaddr
  EXPECT_EQ(option(a.frame, 53), hex({firewall::kDhcpOffer}));
  EXPECT_EQ(option(a.frame, 54), hex({10, 137, 0, 1}));
  EXPECT_EQ(option(a.frame, 1), hex({255, 255, 255, 255}));
  EXPECT_EQ(option(a.frame, 3), hex({10, 137, 0, 1}));
  EXPECT_EQ(option(a.frame, 6), hex({10, 139, 1, 1, 10, 139, 1, 2}));
  EXPECT_EQ(option(a.frame, 51), hex({0, 1, 0x51, 0x80}));  // a day
  // With the broadcast flag, to everyone.
  const auto b = ask(dhcp({.broadcast = true}));
  const auto pb = std::get<packet::Parsed>(packet::parse(b.frame));
  EXPECT_EQ(pb.dst4.str(), "255.255.255.255");
  EXPECT_EQ(pb.dst_mac, kBroadcast);
}

TEST(Dhcp, RequestForItsAddressIsAckedAnyOtherNaked) {
  auto a = ask(dhcp({.type = firewall::kDhcpRequest, .requested = "10.137.0.5", .server = "10.137.0.1"}));
  EXPECT_EQ(option(a.frame, 53), hex({firewall::kDhcpAck}));
  EXPECT_EQ(addr_at(a.frame, kBootp + 16), "10.137.0.5");
  a = ask(dhcp({.type = firewall::kDhcpRequest, .requested = "10.137.0.99"}));
  EXPECT_EQ(option(a.frame, 53), hex({firewall::kDhcpNak}));
  EXPECT_EQ(addr_at(a.frame, kBootp + 16), "0.0.0.0");
  EXPECT_TRUE(option(a.frame, 3).empty());
  // Renewing: from its address, to the gateway, ciaddr set: the ACK goes back to it.
  a = ask(dhcp({.type = firewall::kDhcpRequest, .ciaddr = "10.137.0.5", .src = "10.137.0.5", .dst = "10.137.0.1"}));
  EXPECT_EQ(option(a.frame, 53), hex({firewall::kDhcpAck}));
  EXPECT_EQ(std::get<packet::Parsed>(packet::parse(a.frame)).dst4.str(), "10.137.0.5");
  // A ciaddr it made up is never a destination (the NAK is broadcast on its own link).
  a = ask(dhcp({.type = firewall::kDhcpRequest, .ciaddr = "192.0.2.7"}));
  EXPECT_EQ(option(a.frame, 53), hex({firewall::kDhcpNak}));
  EXPECT_EQ(std::get<packet::Parsed>(packet::parse(a.frame)).dst4.str(), "255.255.255.255");
}

TEST(Dhcp, NothingElseIsAnswered) {
  // A request that chose another server; DECLINE (4), RELEASE (7), INFORM (8); BOOTP without a
  // message type; a reply (op 2); a chaddr that is not the sender's; options without an end.
  EXPECT_EQ(dropped(ask(dhcp({.type = firewall::kDhcpRequest, .requested = "10.137.0.5", .server = "10.137.0.2"}))),
            DropReason::dhcp_from_client);
  for (int t : {4, 7, 8, 0}) EXPECT_EQ(dropped(ask(dhcp({.type = uint8_t(t)}))), DropReason::dhcp_from_client) << int(t);
  EXPECT_EQ(dropped(ask(dhcp({.op = 2}))), DropReason::dhcp_from_client);
  EXPECT_EQ(dropped(ask(dhcp({.chaddr = packet::MacAddr{{0, 0x16, 0x3e, 1, 2, 3}}}))), DropReason::dhcp_from_client);
  EXPECT_EQ(dropped(ask(dhcp({.end = false}))), DropReason::dhcp_from_client);
  // An option whose length runs past the message.
  Bytes f = dhcp({});
  f[f.size() - 1] = std::byte{12};  // "end" becomes host-name with no length byte
  EXPECT_EQ(dropped(ask(udp(Ip4{"0.0.0.0", "255.255.255.255", 64, kClientMac, kBroadcast}, 68, 67,
                            Bytes(f.begin() + 42, f.end())))), DropReason::dhcp_from_client);
  // Anti-spoofing is unchanged: DHCP from an address the vif was not given.
  EXPECT_EQ(dropped(ask(dhcp({.src = "10.137.0.99"}))), DropReason::spoofed_source);
}

}  // namespace
