#include "nat/icmp_error.h"

#include <algorithm>

#include "packet/bytes.h"
#include "nat/rewrite.h"
#include "packet/checksum.h"

namespace xfw::nat {
namespace {

using packet::ipproto::icmp;
using packet::ipproto::icmpv6;
using packet::ipproto::tcp;
using packet::ipproto::udp;

template <std::size_t N>
void read_addr(const std::byte* p, std::array<uint8_t, N>& out) {
  for (std::size_t i = 0; i < N; ++i) out[i] = uint8_t(p[i]);
}

}  // namespace

bool is_icmp_error(const packet::Parsed& p) {
  if (!p.has_l4 || p.fragment) return false;
  if (p.proto == icmp) return p.icmp_type == 3 || p.icmp_type == 4 || p.icmp_type == 11 || p.icmp_type == 12;
  if (p.proto == icmpv6) return p.icmp_type >= 1 && p.icmp_type <= 4;
  return false;
}

std::optional<packet::Parsed> quoted(std::span<const std::byte> f, const packet::Parsed& p) {
  packet::Parsed q;
  q.l3_off = uint16_t(p.l4_off + 8);
  const std::size_t end = p.l3_end;
  if (q.l3_off >= end) return std::nullopt;
  const std::byte* ip = f.data() + q.l3_off;
  const std::size_t avail = end - q.l3_off;
  if (p.l3 == packet::L3::ipv4) {
    if (avail < 20 || (uint8_t(ip[0]) >> 4) != 4) return std::nullopt;
    const std::size_t ihl = (uint8_t(ip[0]) & 0x0F) * 4u;
    if (ihl < 20 || ihl + 8 > avail) return std::nullopt;
    if (packet::rd16(ip + 6) & 0x1FFF) return std::nullopt;  // a later fragment: no ports
    q.l3 = packet::L3::ipv4;
    q.proto = uint8_t(ip[9]);
    read_addr(ip + 12, q.src4.b);
    read_addr(ip + 16, q.dst4.b);
    q.l4_off = uint16_t(q.l3_off + ihl);
  } else {
    if (avail < 48 || (uint8_t(ip[0]) >> 4) != 6) return std::nullopt;
    q.l3 = packet::L3::ipv6;
    q.proto = uint8_t(ip[6]);
    read_addr(ip + 8, q.src6.b);
    read_addr(ip + 24, q.dst6.b);
    q.l4_off = uint16_t(q.l3_off + 40);
  }
  const std::byte* l4 = f.data() + q.l4_off;
  switch (q.proto) {
    case tcp:
    case udp:
      q.sport = packet::rd16(l4);
      q.dport = packet::rd16(l4 + 2);
      break;
    case icmp:
    case icmpv6:
      q.icmp_type = uint8_t(l4[0]);
      q.sport = q.dport = packet::rd16(l4 + 4);
      break;
    default:
      return std::nullopt;
  }
  q.has_l4 = true;
  q.l3_end = uint16_t(end);
  return q;
}

void translate_quoted(std::span<std::byte> f, packet::Parsed& q, const Addr& src, uint16_t sport,
                      const Addr& dst, uint16_t dport) {
  // q's l3_end is the end of the quoted bytes, so only the checksums present there change.
  set_src(f, q, src, sport);
  set_dst(f, q, dst, dport);
}

}  // namespace xfw::nat
