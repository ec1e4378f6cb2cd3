#include "nat/rewrite.h"

#include <algorithm>

#include "packet/bytes.h"
#include "packet/checksum.h"

namespace xfw::nat {
namespace {

using packet::ipproto::icmp;
using packet::ipproto::icmpv6;
using packet::ipproto::tcp;
using packet::ipproto::udp;


// Offset of the transport checksum, or 0 when there is none to update: UDP over IPv4 with a
// zero checksum means "none" (RFC 768), and a packet quoted in an ICMP error may end before it.
std::size_t l4_csum_off(std::span<const std::byte> f, const packet::Parsed& p) {
  if (!p.has_l4) return 0;
  std::size_t off = 0;
  switch (p.proto) {
    case tcp: off = p.l4_off + 16u; break;
    case udp: off = p.l4_off + 6u; break;
    case icmp:
    case icmpv6: off = p.l4_off + 2u; break;
    default: return 0;
  }
  if (off + 2 > p.l3_end) return 0;
  if (p.proto == udp && p.l3 == packet::L3::ipv4 && packet::rd16(f.data() + off) == 0) return 0;
  return off;
}

// Replaces the 16-bit words at `at` with `bytes` and folds the change into the checksums at
// `ip_csum` and `l4_csum` (0: none) at once: RFC 1624 eqn. 3 summed over the words,
// HC' = ~(~HC + sum(~m) + sum(m')).
void replace(std::span<std::byte> f, std::size_t at, const uint8_t* bytes, std::size_t n,
             std::size_t ip_csum, std::size_t l4_csum, bool udp_csum) {
  uint64_t delta = 0;
  for (std::size_t i = 0; i < n; i += 2) {
    const uint16_t old_w = packet::rd16(f.data() + at + i);
    const auto new_w = uint16_t(bytes[i] << 8 | bytes[i + 1]);
    delta += uint16_t(~old_w) + uint64_t(new_w);
    packet::wr16(f.data() + at + i, new_w);
  }
  auto apply = [&](std::size_t off) {
    uint16_t c = uint16_t(~packet::fold(uint16_t(~packet::rd16(f.data() + off)) + delta));
    if (udp_csum && off == l4_csum && c == 0) c = 0xFFFF;  // RFC 768: a computed zero is all ones
    packet::wr16(f.data() + off, c);
  };
  if (ip_csum) apply(ip_csum);
  if (l4_csum) apply(l4_csum);
}

void set_endpoint(std::span<std::byte> f, packet::Parsed& p, bool src, const Addr& a,
                  uint16_t port) {
  const bool v6 = p.l3 == packet::L3::ipv6;
  const std::size_t l4c = l4_csum_off(f, p);
  const bool udp_csum = p.proto == udp;
  // The IPv4 header checksum covers addresses; ICMPv4's checksum does not (no pseudo-header).
  const std::size_t ip_c = v6 ? 0 : p.l3_off + 10u;
  const std::size_t l4c_addr = p.proto == icmp ? 0 : l4c;
  const std::size_t at = p.l3_off + (v6 ? (src ? 8u : 24u) : (src ? 12u : 16u));
  replace(f, at, a.b.data(), v6 ? 16 : 4, ip_c, l4c_addr, udp_csum);
  if (v6) {
    std::copy_n(a.b.begin(), 16, (src ? p.src6 : p.dst6).b.begin());
  } else {
    std::copy_n(a.b.begin(), 4, (src ? p.src4 : p.dst4).b.begin());
  }
  if (!p.has_l4) return;
  const uint8_t pb[2] = {uint8_t(port >> 8), uint8_t(port)};
  if (p.proto == tcp || p.proto == udp) {
    replace(f, p.l4_off + (src ? 0u : 2u), pb, 2, 0, l4c, udp_csum);
    (src ? p.sport : p.dport) = port;
  } else if ((src && is_echo_request(p)) || (!src && is_echo_reply(p))) {
    replace(f, p.l4_off + 4u, pb, 2, 0, l4c, false);
    p.sport = p.dport = port;
  }
}

}  // namespace

Addr addr_of(const packet::Ipv4Addr& a) {
  Addr r;
  std::copy(a.b.begin(), a.b.end(), r.b.begin());
  return r;
}
Addr addr_of(const packet::Ipv6Addr& a) { return Addr{a.b}; }
packet::Ipv4Addr v4_of(const Addr& a) {
  packet::Ipv4Addr r;
  std::copy_n(a.b.begin(), 4, r.b.begin());
  return r;
}
packet::Ipv6Addr v6_of(const Addr& a) { return packet::Ipv6Addr{a.b}; }

bool is_echo_request(const packet::Parsed& p) {
  return (p.proto == icmp && p.icmp_type == 8) || (p.proto == icmpv6 && p.icmp_type == 128);
}
bool is_echo_reply(const packet::Parsed& p) {
  return (p.proto == icmp && p.icmp_type == 0) || (p.proto == icmpv6 && p.icmp_type == 129);
}

Key key_of(const packet::Parsed& p) {
  Key k{src_of(p), dst_of(p), 0, 0, p.proto, p.l3 == packet::L3::ipv6};
  if (p.proto == tcp || p.proto == udp) {
    k.sport = p.sport;
    k.dport = p.dport;
  } else if (is_echo_request(p)) {
    k.sport = p.sport;
  } else if (is_echo_reply(p)) {
    k.dport = p.dport;
  }
  return k;
}

void set_src(std::span<std::byte> frame, packet::Parsed& p, const Addr& a, uint16_t port) {
  set_endpoint(frame, p, true, a, port);
}
void set_dst(std::span<std::byte> frame, packet::Parsed& p, const Addr& a, uint16_t port) {
  set_endpoint(frame, p, false, a, port);
}

bool decrement_ttl(std::span<std::byte> f, packet::Parsed& p) {
  if (p.ttl <= 1) return false;
  if (p.l3 == packet::L3::ipv6) {
    f[p.l3_off + 7u] = std::byte(p.ttl - 1);
  } else {
    // TTL shares a 16-bit word with the protocol field.
    const std::size_t w = p.l3_off + 8u, c = p.l3_off + 10u;
    const uint16_t old_w = packet::rd16(f.data() + w);
    const auto new_w = uint16_t(old_w - 0x100);
    packet::wr16(f.data() + w, new_w);
    packet::wr16(f.data() + c, packet::update16(packet::rd16(f.data() + c), old_w, new_w));
  }
  --p.ttl;
  return true;
}

void complete_checksum(std::span<std::byte> f, const packet::Parsed& p) {
  if (!p.has_l4 || p.fragment) return;
  std::size_t off = 0;
  switch (p.proto) {
    case tcp: off = 16; break;
    case udp: off = 6; break;
    case icmp:
    case icmpv6: off = 2; break;
    default: return;
  }
  const auto l4 = f.subspan(p.l4_off, p.l4_len());
  packet::wr16(l4.data() + off, 0);
  uint64_t acc = 0;
  if (p.l3 == packet::L3::ipv6) {
    acc = packet::pseudo_v6(p.src6, p.dst6, p.proto, uint32_t(l4.size()));
  } else if (p.proto != icmp) {
    acc = packet::pseudo_v4(p.src4, p.dst4, p.proto, uint32_t(l4.size()));
  }
  uint16_t c = packet::checksum(l4, acc);
  if (p.proto == udp && c == 0) c = 0xFFFF;
  packet::wr16(l4.data() + off, c);
}

}  // namespace xfw::nat
