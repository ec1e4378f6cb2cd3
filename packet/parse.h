// packet/parse.h — parse a frame once into a bounds-checked view (Click's CheckIPHeader idea).
//
// parse() checks every length it follows: Ethernet (RFC 894), ARP (RFC 826, Ethernet/IPv4
// only), IPv4 (RFC 791: version, IHL, total length, header checksum, options as Linux's
// ip_options_compile checks them, fragments not past 65535 bytes), IPv6
// (RFC 8200: payload length, up to 8 extension headers, hop-by-hop only first, fragment
// header), and the first bytes of TCP (RFC 9293 data offset), UDP (RFC 768 length), ICMP
// (RFC 792) and ICMPv6 (RFC 4443). After it succeeds, later stages read fields from Parsed
// and never touch raw offsets themselves. Transport checksums are verified separately
// (l4_checksum_ok), because a guest may legitimately send them blank (csum_blank).
//   auto p = parse(frame);
//   if (auto* e = std::get_if<ParseError>(&p)) drop(*e);
//   const Parsed& f = std::get<Parsed>(p);  // f.l3 == L3::ipv4, f.sport, ...
#pragma once

#include <cstdint>
#include <span>
#include <variant>

#include "packet/addr.h"

namespace xfw::packet {

enum class L3 : uint8_t { other, arp, ipv4, ipv6 };

namespace ethertype {
inline constexpr uint16_t ipv4 = 0x0800, arp = 0x0806, ipv6 = 0x86DD, vlan = 0x8100;
}
namespace ipproto {
inline constexpr uint8_t icmp = 1, tcp = 6, udp = 17, icmpv6 = 58;
}

#define XFW_PARSE_ERRORS(X)                                      \
  X(frame_too_short, "shorter than an Ethernet header")          \
  X(arp_malformed, "ARP that is not Ethernet/IPv4, or truncated") \
  X(ip_truncated, "IP header truncated")                         \
  X(ip_bad_version, "IP version does not match the ethertype")   \
  X(ip_bad_header_length, "IPv4 header length < 20")             \
  X(ip_bad_total_length, "IP length field exceeds the frame")    \
  X(ip_bad_header_checksum, "IPv4 header checksum wrong")        \
  X(ip_bad_options, "IPv4 option truncated or malformed (RFC 791)") \
  X(ip_fragment_too_long, "fragment ends past 65535 bytes")      \
  X(ipv6_bad_extension_header, "IPv6 extension header truncated or misplaced") \
  X(ipv6_too_many_extension_headers, "more than 8 IPv6 extension headers") \
  X(l4_truncated, "transport header truncated")                  \
  X(tcp_bad_data_offset, "TCP data offset out of range")         \
  X(udp_bad_length, "UDP length field wrong")

enum class ParseError : uint8_t {
#define XFW_X(n, t) n,
  XFW_PARSE_ERRORS(XFW_X)
#undef XFW_X
};
[[nodiscard]] const char* name(ParseError e);

struct Parsed {
  MacAddr dst_mac, src_mac;
  uint16_t ethertype = 0;
  L3 l3 = L3::other;
  uint16_t l3_off = 14;

  // ARP (l3 == arp)
  uint16_t arp_op = 0;
  MacAddr arp_sha, arp_tha;
  Ipv4Addr arp_spa, arp_tpa;

  // IP (l3 == ipv4 or ipv6)
  Ipv4Addr src4, dst4;
  Ipv6Addr src6, dst6;
  uint8_t ttl = 0;              // TTL or hop limit
  uint16_t l3_end = 0;          // end of the IP packet in the frame (Ethernet padding excluded)
  uint8_t proto = 0;            // upper-layer protocol after any extension headers
  bool fragment = false;        // part of a fragmented packet
  bool later_fragment = false;  // not the first fragment: no transport header here
  uint32_t frag_id = 0;
  uint16_t frag_offset = 0;     // in bytes
  bool more_fragments = false;
  // The first IPv4 option Linux sys-firewall refuses to forward: a source route (131 LSRR,
  // 137 SSRR: accept_source_route=0) or CIPSO (134: no DOI is configured). 0: none.
  uint8_t refused_option = 0;

  // Transport (has_l4: the first fragment or an unfragmented packet of tcp/udp/icmp/icmpv6)
  bool has_l4 = false;
  uint16_t l4_off = 0;
  uint16_t sport = 0, dport = 0;  // tcp/udp; for ICMP echo, dport = sport = identifier
  uint8_t tcp_flags = 0;
  uint32_t tcp_seq = 0, tcp_ack = 0;
  uint16_t tcp_win = 0;
  uint8_t tcp_hlen = 0;     // the TCP header's length (data offset), options included
  int8_t tcp_wscale = -1;   // a SYN's window scale option (RFC 7323), capped at 14; -1: none
  uint8_t icmp_type = 0, icmp_code = 0;
  bool has_nd_target = false;  // ICMPv6 neighbor solicitation/advertisement (RFC 4861 §4.3-4)
  Ipv6Addr nd_target;

  [[nodiscard]] uint16_t l4_len() const { return uint16_t(l3_end - l4_off); }
};

[[nodiscard]] std::variant<Parsed, ParseError> parse(std::span<const std::byte> frame);

// Verifies the TCP/UDP/ICMP/ICMPv6 checksum of an unfragmented packet (UDP over IPv4 with a
// zero checksum is valid: RFC 768).
[[nodiscard]] bool l4_checksum_ok(std::span<const std::byte> frame, const Parsed& p);

}  // namespace xfw::packet
