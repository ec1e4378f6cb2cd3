#include "packet/build.h"

#include <algorithm>
#include <cstring>

#include "packet/bytes.h"
#include "packet/checksum.h"

namespace xfw::packet {
namespace {

// Ethernet header answering `p`: back to its source, from its destination (or `from_mac`).
void ether_reply(std::byte* o, const Parsed& p, MacAddr from_mac, uint16_t type) {
  std::memcpy(o, p.src_mac.b.data(), 6);
  std::memcpy(o + 6, from_mac.b.data(), 6);
  wr16(o + 12, type);
}

// A 20-byte IPv4 header with a complete checksum.
void ipv4_header(std::byte* ip, Ipv4Addr src, Ipv4Addr dst, uint8_t proto, uint16_t total) {
  std::memset(ip, 0, 20);
  ip[0] = std::byte{0x45};
  wr16(ip + 2, total);
  wr16(ip + 6, 0x4000);  // DF
  ip[8] = std::byte{64};
  ip[9] = std::byte{proto};
  std::memcpy(ip + 12, src.b.data(), 4);
  std::memcpy(ip + 16, dst.b.data(), 4);
  wr16(ip + 10, checksum(std::span<const std::byte>(ip, 20)));
}

// A 40-byte IPv6 header.
void ipv6_header(std::byte* ip, const Ipv6Addr& src, const Ipv6Addr& dst, uint8_t next,
                 uint16_t payload, uint8_t hops) {
  std::memset(ip, 0, 8);
  ip[0] = std::byte{0x60};
  wr16(ip + 4, payload);
  ip[6] = std::byte{next};
  ip[7] = std::byte{hops};
  std::memcpy(ip + 8, src.b.data(), 16);
  std::memcpy(ip + 24, dst.b.data(), 16);
}

// The ICMPv6 checksum (RFC 4443 §2.3) of the message at `icmp`, pseudo-header included.
void icmp6_checksum(std::byte* icmp, std::size_t len, const Ipv6Addr& src, const Ipv6Addr& dst) {
  wr16(icmp + 2, 0);
  wr16(icmp + 2, checksum(std::span<const std::byte>(icmp, len),
                          pseudo_v6(src, dst, ipproto::icmpv6, uint32_t(len))));
}

// RFC 826 Ethernet/IPv4 ARP body (28 bytes).
void arp_body(std::byte* a, uint16_t op, MacAddr sha, Ipv4Addr spa, MacAddr tha, Ipv4Addr tpa) {
  wr16(a, 1);  // Ethernet
  wr16(a + 2, ethertype::ipv4);
  a[4] = std::byte{6};
  a[5] = std::byte{4};
  wr16(a + 6, op);
  std::memcpy(a + 8, sha.b.data(), 6);
  std::memcpy(a + 14, spa.b.data(), 4);
  std::memcpy(a + 18, tha.b.data(), 6);
  std::memcpy(a + 24, tpa.b.data(), 4);
}

}  // namespace

std::size_t arp_reply(std::span<std::byte> out, const Parsed& req, MacAddr our_mac) {
  ether_reply(out.data(), req, our_mac, ethertype::arp);
  arp_body(out.data() + 14, 2, our_mac, req.arp_tpa, req.arp_sha, req.arp_spa);
  return 14 + 28;
}

std::size_t icmp_echo_reply(std::span<std::byte> out, std::span<const std::byte> req,
                            const Parsed& p) {
  const std::size_t icmp_len = std::min<std::size_t>(p.l4_len(), kMaxReply - 14 - 20);
  std::byte* o = out.data();
  ether_reply(o, p, p.dst_mac, ethertype::ipv4);
  ipv4_header(o + 14, p.dst4, p.src4, ipproto::icmp, uint16_t(20 + icmp_len));
  std::byte* icmp = o + 34;
  std::memcpy(icmp, req.data() + p.l4_off, icmp_len);
  icmp[0] = std::byte{0};  // echo reply
  icmp[1] = std::byte{0};
  wr16(icmp + 2, 0);
  wr16(icmp + 2, checksum(std::span<const std::byte>(icmp, icmp_len)));
  return 34 + icmp_len;
}

std::size_t icmp4_error(std::span<std::byte> out, std::span<const std::byte> bad, const Parsed& p,
                        Ipv4Addr from, uint8_t type, uint8_t code) {
  const std::size_t quoted = std::min<std::size_t>(p.l3_end - p.l3_off, 576 - 20 - 8);
  std::byte* o = out.data();
  ether_reply(o, p, p.dst_mac, ethertype::ipv4);
  ipv4_header(o + 14, from, p.src4, ipproto::icmp, uint16_t(20 + 8 + quoted));
  std::byte* icmp = o + 34;
  std::memset(icmp, 0, 8);
  icmp[0] = std::byte{type};
  icmp[1] = std::byte{code};
  std::memcpy(icmp + 8, bad.data() + p.l3_off, quoted);
  wr16(icmp + 2, checksum(std::span<const std::byte>(icmp, 8 + quoted)));
  return 34 + 8 + quoted;
}

std::size_t arp_request(std::span<std::byte> out, MacAddr our_mac, Ipv4Addr our_ip,
                        Ipv4Addr target) {
  std::byte* o = out.data();
  std::memset(o, 0xFF, 6);
  std::memcpy(o + 6, our_mac.b.data(), 6);
  wr16(o + 12, ethertype::arp);
  arp_body(o + 14, 1, our_mac, our_ip, MacAddr{}, target);
  return 14 + 28;
}

std::size_t udp4(std::span<std::byte> out, MacAddr src_mac, MacAddr dst_mac, Ipv4Addr src,
                 Ipv4Addr dst, uint16_t sport, uint16_t dport, std::span<const std::byte> payload) {
  std::byte* o = out.data();
  std::memcpy(o, dst_mac.b.data(), 6);
  std::memcpy(o + 6, src_mac.b.data(), 6);
  wr16(o + 12, ethertype::ipv4);
  const auto udp_len = uint16_t(8 + payload.size());
  ipv4_header(o + 14, src, dst, ipproto::udp, uint16_t(20 + udp_len));
  std::byte* u = o + 34;
  wr16(u, sport);
  wr16(u + 2, dport);
  wr16(u + 4, udp_len);
  wr16(u + 6, 0);
  std::memcpy(u + 8, payload.data(), payload.size());
  uint16_t c = checksum(std::span<const std::byte>(u, udp_len), pseudo_v4(src, dst, ipproto::udp, udp_len));
  wr16(u + 6, c == 0 ? 0xFFFF : c);
  return 34 + std::size_t(udp_len);
}

std::size_t icmp6_echo_reply(std::span<std::byte> out, std::span<const std::byte> req,
                             const Parsed& p) {
  const std::size_t len = std::min<std::size_t>(p.l4_len(), kMaxReply - 14 - 40);
  std::byte* o = out.data();
  ether_reply(o, p, p.dst_mac, ethertype::ipv6);
  ipv6_header(o + 14, p.dst6, p.src6, ipproto::icmpv6, uint16_t(len), 64);
  std::byte* icmp = o + 54;
  std::memcpy(icmp, req.data() + p.l4_off, len);
  icmp[0] = std::byte{129};
  icmp[1] = std::byte{0};
  icmp6_checksum(icmp, len, p.dst6, p.src6);
  return 54 + len;
}

std::size_t icmp6_error(std::span<std::byte> out, std::span<const std::byte> bad, const Parsed& p,
                        const Ipv6Addr& from, uint8_t type, uint8_t code) {
  const std::size_t quoted = std::min<std::size_t>(p.l3_end - p.l3_off, 576 - 40 - 8);
  std::byte* o = out.data();
  ether_reply(o, p, p.dst_mac, ethertype::ipv6);
  ipv6_header(o + 14, from, p.src6, ipproto::icmpv6, uint16_t(8 + quoted), 64);
  std::byte* icmp = o + 54;
  std::memset(icmp, 0, 8);
  icmp[0] = std::byte{type};
  icmp[1] = std::byte{code};
  std::memcpy(icmp + 8, bad.data() + p.l3_off, quoted);
  icmp6_checksum(icmp, 8 + quoted, from, p.src6);
  return 54 + 8 + quoted;
}

std::size_t ndp_na(std::span<std::byte> out, const Parsed& ns, MacAddr our_mac) {
  static const Ipv6Addr kAllNodes{{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}};
  const bool dad = ns.src6 == Ipv6Addr{};  // from :: (duplicate address detection): to all nodes
  const Ipv6Addr& dst = dad ? kAllNodes : ns.src6;
  std::byte* o = out.data();
  ether_reply(o, ns, our_mac, ethertype::ipv6);
  static const uint8_t kAllNodesMac[6] = {0x33, 0x33, 0, 0, 0, 1};
  if (dad) std::memcpy(o, kAllNodesMac, 6);
  ipv6_header(o + 14, ns.nd_target, dst, ipproto::icmpv6, 32, 255);
  std::byte* icmp = o + 54;
  std::memset(icmp, 0, 32);
  icmp[0] = std::byte{136};
  icmp[4] = std::byte(dad ? 0x20 : 0x60);  // Solicited (unless DAD), Override
  std::memcpy(icmp + 8, ns.nd_target.b.data(), 16);
  icmp[24] = std::byte{2};  // target link-layer address option, 8 bytes
  icmp[25] = std::byte{1};
  std::memcpy(icmp + 26, our_mac.b.data(), 6);
  icmp6_checksum(icmp, 32, ns.nd_target, dst);
  return 54 + 32;
}

std::size_t ndp_ns(std::span<std::byte> out, MacAddr our_mac, const Ipv6Addr& our_ip,
                   const Ipv6Addr& target) {
  Ipv6Addr group{{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, target.b[13], target.b[14], target.b[15]}};
  std::byte* o = out.data();
  const uint8_t mcast[6] = {0x33, 0x33, 0xff, target.b[13], target.b[14], target.b[15]};
  std::memcpy(o, mcast, 6);
  std::memcpy(o + 6, our_mac.b.data(), 6);
  wr16(o + 12, ethertype::ipv6);
  ipv6_header(o + 14, our_ip, group, ipproto::icmpv6, 32, 255);
  std::byte* icmp = o + 54;
  std::memset(icmp, 0, 32);
  icmp[0] = std::byte{135};
  std::memcpy(icmp + 8, target.b.data(), 16);
  icmp[24] = std::byte{1};  // source link-layer address option
  icmp[25] = std::byte{1};
  std::memcpy(icmp + 26, our_mac.b.data(), 6);
  icmp6_checksum(icmp, 32, our_ip, group);
  return 54 + 32;
}

std::size_t tcp_rst(std::span<std::byte> out, std::span<const std::byte> seg, const Parsed& p) {
  const std::byte* t = seg.data() + p.l4_off;
  const uint32_t seq = rd32(t + 4), ack = rd32(t + 8);
  const uint32_t doff = (uint8_t(t[12]) >> 4) * 4u;
  uint32_t seg_len = p.l4_len() - doff;
  if (p.tcp_flags & 0x02) ++seg_len;  // SYN
  if (p.tcp_flags & 0x01) ++seg_len;  // FIN
  std::byte* o = out.data();
  const bool v6 = p.l3 == L3::ipv6;
  ether_reply(o, p, p.dst_mac, v6 ? ethertype::ipv6 : ethertype::ipv4);
  if (v6) {
    ipv6_header(o + 14, p.dst6, p.src6, ipproto::tcp, 20, 64);
  } else {
    ipv4_header(o + 14, p.dst4, p.src4, ipproto::tcp, 40);
  }
  std::byte* r = o + (v6 ? 54 : 34);
  std::memset(r, 0, 20);
  wr16(r, p.dport);
  wr16(r + 2, p.sport);
  if (p.tcp_flags & 0x10) {  // the segment had ACK: <SEQ=SEG.ACK><CTL=RST>
    wr32(r + 4, ack);
    r[13] = std::byte{0x04};
  } else {  // <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>
    wr32(r + 8, seq + seg_len);
    r[13] = std::byte{0x14};
  }
  r[12] = std::byte{0x50};
  wr16(r + 16, checksum(std::span<const std::byte>(r, 20),
                        v6 ? pseudo_v6(p.dst6, p.src6, ipproto::tcp, 20)
                           : pseudo_v4(p.dst4, p.src4, ipproto::tcp, 20)));
  return v6 ? 74 : 54;
}

}  // namespace xfw::packet
