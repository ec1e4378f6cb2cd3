// nat/rewrite.h — in-place header rewrites for NAT, with incremental checksums (RFC 1624).
//
// Works on a frame that packet::parse() accepted, through its Parsed view (no raw offsets in
// callers). Addresses are nat::Addr (IPv4 in the first 4 bytes). The transport "port" of an
// ICMP/ICMPv6 echo is its identifier. A later fragment has no transport header: only the
// address changes there (its checksum lives in the first fragment, whose update covers it).
//   set_src(frame, p, uplink, nat_port);   // masquerade
//   if (!decrement_ttl(frame, p)) ...      // TTL/hop limit would reach 0: ICMP time exceeded
#pragma once

#include <cstddef>
#include <span>

#include "nat/conntrack.h"
#include "packet/parse.h"

namespace xfw::nat {

[[nodiscard]] Addr addr_of(const packet::Ipv4Addr& a);
[[nodiscard]] Addr addr_of(const packet::Ipv6Addr& a);
[[nodiscard]] packet::Ipv4Addr v4_of(const Addr& a);
[[nodiscard]] packet::Ipv6Addr v6_of(const Addr& a);
[[nodiscard]] inline Addr src_of(const packet::Parsed& p) {
  return p.l3 == packet::L3::ipv6 ? addr_of(p.src6) : addr_of(p.src4);
}
[[nodiscard]] inline Addr dst_of(const packet::Parsed& p) {
  return p.l3 == packet::L3::ipv6 ? addr_of(p.dst6) : addr_of(p.dst4);
}

[[nodiscard]] bool is_echo_request(const packet::Parsed& p);  // ICMP 8 or ICMPv6 128
[[nodiscard]] bool is_echo_reply(const packet::Parsed& p);    // ICMP 0 or ICMPv6 129

// The connection-tracking key of a packet as it travels (ICMP echo request: identifier as
// source port; echo reply: identifier as destination port; other ICMP: both 0).
[[nodiscard]] Key key_of(const packet::Parsed& p);

// Rewrite the source (or destination) address and port, updating p to match.
void set_src(std::span<std::byte> frame, packet::Parsed& p, const Addr& a, uint16_t port);
void set_dst(std::span<std::byte> frame, packet::Parsed& p, const Addr& a, uint16_t port);

// Decrements the IPv4 TTL or IPv6 hop limit. False (and unchanged) if it is 1 or 0.
[[nodiscard]] bool decrement_ttl(std::span<std::byte> frame, packet::Parsed& p);

// A guest sent the packet with NETTXF_csum_blank: compute its transport checksum in full.
void complete_checksum(std::span<std::byte> frame, const packet::Parsed& p);

}  // namespace xfw::nat
