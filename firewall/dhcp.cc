#include "firewall/dhcp.h"

#include <array>
#include <cstring>
#include <optional>

#include "packet/build.h"
#include "packet/bytes.h"

namespace xfw::firewall {
namespace {

// BOOTP (RFC 951) as DHCP uses it: the fixed part, then the magic cookie and the options.
constexpr std::size_t kFixed = 236, kCookie = 0x63825363, kMinReply = 300;
constexpr std::size_t kChaddr = 28, kCiaddr = 12, kYiaddr = 16, kFlags = 10;

struct Request {
  uint8_t type = 0;
  std::optional<packet::Ipv4Addr> requested, server;
};

packet::Ipv4Addr addr_at(const std::byte* b) {
  packet::Ipv4Addr a;
  std::memcpy(a.b.data(), b, 4);
  return a;
}

// The options we look at; nullopt when they are malformed (a length past the message, no end).
std::optional<Request> read_options(std::span<const std::byte> msg) {
  Request r;
  std::size_t i = kFixed + 4;
  while (i < msg.size()) {
    const auto code = uint8_t(msg[i]);
    if (code == 0) {  // pad
      ++i;
      continue;
    }
    if (code == 255) return r;
    if (i + 1 >= msg.size()) return std::nullopt;
    const std::size_t len = uint8_t(msg[i + 1]), at = i + 2;
    if (at + len > msg.size()) return std::nullopt;
    if (code == 53 && len == 1) r.type = uint8_t(msg[at]);
    if (code == 50 && len == 4) r.requested = addr_at(msg.data() + at);
    if (code == 54 && len == 4) r.server = addr_at(msg.data() + at);
    i = at + len;
  }
  return std::nullopt;  // no end option
}

}  // namespace

std::size_t dhcp_answer(std::span<std::byte> out, std::span<const std::byte> frame, const packet::Parsed& p,
                        const DhcpLease& lease, packet::MacAddr gw_mac) {
  if (p.proto != packet::ipproto::udp || !p.has_l4 || p.fragment || p.sport != 68 || p.dport != 67) return 0;
  if (p.l4_len() < 8u + kFixed + 4) return 0;
  const auto msg = frame.subspan(p.l4_off + 8, p.l4_len() - 8u);
  // A request (op 1) for Ethernet (htype 1, hlen 6), for the frame's own sender, with the cookie.
  if (uint8_t(msg[0]) != 1 || uint8_t(msg[1]) != 1 || uint8_t(msg[2]) != 6 ||
      std::memcmp(msg.data() + kChaddr, p.src_mac.b.data(), 6) != 0 || packet::rd32(msg.data() + kFixed) != kCookie)
    return 0;
  const auto req = read_options(msg);
  if (!req) return 0;
  const auto ciaddr = addr_at(msg.data() + kCiaddr);
  uint8_t type = 0;
  if (req->type == kDhcpDiscover) {
    type = kDhcpOffer;
  } else if (req->type == kDhcpRequest) {
    if (req->server && *req->server != lease.gateway) return 0;  // it chose another server
    const auto asked = req->requested ? *req->requested : ciaddr;
    type = asked == lease.addr ? kDhcpAck : kDhcpNak;
  } else {
    return 0;
  }
  std::array<std::byte, kMinReply> r{};
  r[0] = std::byte{2};  // BOOTREPLY
  r[1] = std::byte{1};
  r[2] = std::byte{6};
  std::memcpy(r.data() + 4, msg.data() + 4, 4);                          // xid
  std::memcpy(r.data() + kFlags, msg.data() + kFlags, 2);                // flags
  if (type != kDhcpNak) std::memcpy(r.data() + kYiaddr, lease.addr.b.data(), 4);
  std::memcpy(r.data() + 24, msg.data() + 24, 4);                        // giaddr
  std::memcpy(r.data() + kChaddr, msg.data() + kChaddr, 16);
  packet::wr32(r.data() + kFixed, kCookie);
  std::size_t o = kFixed + 4;
  auto opt = [&](uint8_t code, std::initializer_list<packet::Ipv4Addr> addrs) {
    r[o++] = std::byte{code};
    r[o++] = std::byte(uint8_t(4 * addrs.size()));
    for (const auto& a : addrs) std::memcpy(r.data() + o, a.b.data(), 4), o += 4;
  };
  r[o++] = std::byte{53};
  r[o++] = std::byte{1};
  r[o++] = std::byte{type};
  opt(54, {lease.gateway});
  if (type != kDhcpNak) {
    r[o++] = std::byte{51};
    r[o++] = std::byte{4};
    packet::wr32(r.data() + o, lease.lease_s);
    o += 4;
    opt(1, {packet::Ipv4Addr{{255, 255, 255, 255}}});  // /32, as a Qubes AppVM has it
    opt(3, {lease.gateway});
    if (!lease.dns.empty()) {
      r[o++] = std::byte{6};
      const std::size_t n = std::min<std::size_t>(lease.dns.size(), 8);
      r[o++] = std::byte(uint8_t(4 * n));
      for (std::size_t i = 0; i < n; ++i) std::memcpy(r.data() + o, lease.dns[i].b.data(), 4), o += 4;
    }
  }
  r[o++] = std::byte{255};
  // To the client's MAC; to its address when it has one (renewing), else to where it can hear
  // before it has an address: broadcast if it asked for that (flags), else the offered address.
  const bool broadcast = (uint8_t(msg[kFlags]) & 0x80) != 0;
  // (Only the vif's address is ever a destination: a ciaddr the client made up is not.)
  const packet::Ipv4Addr all{{255, 255, 255, 255}};
  const packet::Ipv4Addr dst = ciaddr == lease.addr ? ciaddr : broadcast || type == kDhcpNak ? all : lease.addr;
  const packet::MacAddr dmac = broadcast ? packet::MacAddr{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}} : p.src_mac;
  return packet::udp4(out, gw_mac, dmac, lease.gateway, dst, 67, 68, r);
}

}  // namespace xfw::firewall
