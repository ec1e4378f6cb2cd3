#include "packet/parse.h"

#include <algorithm>
#include <cstring>

#include "packet/bytes.h"
#include "packet/checksum.h"

namespace xfw::packet {
namespace {

template <std::size_t N>
void copy_to(std::array<uint8_t, N>& out, const std::byte* p) {
  std::memcpy(out.data(), p, N);
}

std::variant<Parsed, ParseError> parse_arp(std::span<const std::byte> f, Parsed p) {
  const std::byte* a = f.data() + p.l3_off;
  if (f.size() < p.l3_off + 28u || rd16(a) != 1 || rd16(a + 2) != ethertype::ipv4 ||
      a[4] != std::byte{6} || a[5] != std::byte{4})
    return ParseError::arp_malformed;
  p.arp_op = rd16(a + 6);
  copy_to(p.arp_sha.b, a + 8);
  copy_to(p.arp_spa.b, a + 14);
  copy_to(p.arp_tha.b, a + 18);
  copy_to(p.arp_tpa.b, a + 24);
  return p;
}

// IPv4 and TCP options share one layout (RFC 791 §3.1, RFC 9293 §3.1): end-of-list (0), no-op
// (1), else kind, length (>= 2, within the header), data. Calls f(kind, option) for each
// option with a length; false if one does not parse or f says so.
template <class F>
bool for_each_option(const std::byte* opt, uint32_t len, F&& f) {
  for (uint32_t i = 0; i < len;) {
    const uint8_t kind = uint8_t(opt[i]);
    if (kind == 0) break;
    if (kind == 1) {
      ++i;
      continue;
    }
    if (len - i < 2) return false;
    const uint8_t olen = uint8_t(opt[i + 1]);
    if (olen < 2 || olen > len - i || !f(kind, std::span(opt + i, olen))) return false;
    i += olen;
  }
  return true;
}

// The window scale option among a SYN's TCP options (kind 3, length 3), or -1; options that
// do not parse end the search.
int8_t tcp_window_scale(const std::byte* opt, uint32_t len) {
  int8_t scale = -1;
  (void)for_each_option(opt, len, [&](uint8_t kind, std::span<const std::byte> o) {
    if (kind == 3 && o.size() == 3) scale = int8_t(std::min<uint8_t>(uint8_t(o[2]), 14));
    return scale < 0;
  });
  return scale;
}

// The transport header of an unfragmented packet or a first fragment.
std::variant<Parsed, ParseError> parse_l4(std::span<const std::byte> f, Parsed p) {
  const std::byte* l4 = f.data() + p.l4_off;
  const uint32_t len = p.l3_end - p.l4_off;
  switch (p.proto) {
    case ipproto::tcp: {
      if (len < 20) return ParseError::l4_truncated;
      const uint32_t doff = (uint8_t(l4[12]) >> 4) * 4u;
      if (doff < 20 || doff > len) return ParseError::tcp_bad_data_offset;
      p.sport = rd16(l4);
      p.dport = rd16(l4 + 2);
      p.tcp_flags = uint8_t(l4[13]);
      p.tcp_seq = rd32(l4 + 4);
      p.tcp_ack = rd32(l4 + 8);
      p.tcp_win = rd16(l4 + 14);
      p.tcp_hlen = uint8_t(doff);
      if (p.tcp_flags & 0x02) p.tcp_wscale = tcp_window_scale(l4 + 20, doff - 20);
      break;
    }
    case ipproto::udp: {
      if (len < 8) return ParseError::l4_truncated;
      const uint16_t ulen = rd16(l4 + 4);
      // A fragment's UDP length covers the whole datagram; otherwise it must match.
      if (ulen < 8 || (!p.fragment && ulen != len)) return ParseError::udp_bad_length;
      p.sport = rd16(l4);
      p.dport = rd16(l4 + 2);
      break;
    }
    case ipproto::icmp:
    case ipproto::icmpv6:
      if (len < 8) return ParseError::l4_truncated;
      p.icmp_type = uint8_t(l4[0]);
      p.icmp_code = uint8_t(l4[1]);
      p.sport = p.dport = rd16(l4 + 4);  // echo identifier (meaningful for echo only)
      if (p.proto == ipproto::icmpv6 && (p.icmp_type == 135 || p.icmp_type == 136) && len >= 24) {
        p.has_nd_target = true;
        for (int i = 0; i < 16; ++i) p.nd_target.b[i] = uint8_t(l4[8 + i]);
      }
      break;
    default:
      return p;  // other protocols: no transport view
  }
  p.has_l4 = true;
  return p;
}

// IPv4 options (RFC 791 §3.1), checked as Linux checks those it receives: every option but
// end-of-list and no-op has a length of at least 2 that fits the header; the route options'
// pointer is at least 4, the timestamp's at least 5. Source routes and CIPSO are noted.
bool parse_ipv4_options(const std::byte* opt, uint32_t len, Parsed& p) {
  return for_each_option(opt, len, [&](uint8_t kind, std::span<const std::byte> o) {
    const uint8_t ptr = o.size() > 2 ? uint8_t(o[2]) : 0;
    switch (kind) {
      case 7:    // record route
      case 131:  // loose source route
      case 137:  // strict source route
        if (o.size() < 3 || ptr < 4) return false;
        break;
      case 68:  // timestamp
        if (o.size() < 4 || ptr < 5) return false;
        break;
      default:
        break;
    }
    if ((kind == 131 || kind == 137 || kind == 134) && p.refused_option == 0) p.refused_option = kind;
    return true;
  });
}

std::variant<Parsed, ParseError> parse_ipv4(std::span<const std::byte> f, Parsed p) {
  const std::byte* ip = f.data() + p.l3_off;
  const std::size_t avail = f.size() - p.l3_off;
  if (avail < 20) return ParseError::ip_truncated;
  if ((uint8_t(ip[0]) >> 4) != 4) return ParseError::ip_bad_version;
  const uint32_t ihl = (uint8_t(ip[0]) & 0xF) * 4u;
  if (ihl < 20) return ParseError::ip_bad_header_length;
  const uint32_t total = rd16(ip + 2);
  if (ihl > avail || total < ihl || total > avail) return ParseError::ip_bad_total_length;
  if (!checksum_ok(f.subspan(p.l3_off, ihl))) return ParseError::ip_bad_header_checksum;
  if (ihl > 20 && !parse_ipv4_options(ip + 20, ihl - 20, p)) return ParseError::ip_bad_options;
  p.ttl = uint8_t(ip[8]);
  p.proto = uint8_t(ip[9]);
  copy_to(p.src4.b, ip + 12);
  copy_to(p.dst4.b, ip + 16);
  const uint16_t frag = rd16(ip + 6);
  p.more_fragments = frag & 0x2000;
  p.frag_offset = uint16_t((frag & 0x1FFF) * 8);
  p.fragment = p.more_fragments || p.frag_offset != 0;
  p.later_fragment = p.frag_offset != 0;
  p.frag_id = rd16(ip + 4);
  if (p.frag_offset + (total - ihl) > 65535u) return ParseError::ip_fragment_too_long;
  p.l3_end = uint16_t(p.l3_off + total);
  p.l4_off = uint16_t(p.l3_off + ihl);
  if (p.later_fragment) return p;
  return parse_l4(f, p);
}

std::variant<Parsed, ParseError> parse_ipv6(std::span<const std::byte> f, Parsed p) {
  const std::byte* ip = f.data() + p.l3_off;
  const std::size_t avail = f.size() - p.l3_off;
  if (avail < 40) return ParseError::ip_truncated;
  if ((uint8_t(ip[0]) >> 4) != 6) return ParseError::ip_bad_version;
  const uint32_t payload = rd16(ip + 4);
  if (40u + payload > avail) return ParseError::ip_bad_total_length;
  p.ttl = uint8_t(ip[7]);
  copy_to(p.src6.b, ip + 8);
  copy_to(p.dst6.b, ip + 24);
  p.l3_end = uint16_t(p.l3_off + 40 + payload);
  uint8_t next = uint8_t(ip[6]);
  uint32_t off = p.l3_off + 40u;
  for (int n = 0;; ++n) {
    if (next != 0 && next != 43 && next != 44 && next != 60) break;  // not an extension header
    if (n == 8) return ParseError::ipv6_too_many_extension_headers;
    if (next == 0 && n != 0) return ParseError::ipv6_bad_extension_header;  // RFC 8200 §4.3
    if (off + 8 > p.l3_end) return ParseError::ipv6_bad_extension_header;
    const std::byte* h = f.data() + off;
    const uint32_t hlen = next == 44 ? 8u : (uint32_t(uint8_t(h[1])) + 1) * 8;
    if (off + hlen > p.l3_end) return ParseError::ipv6_bad_extension_header;
    if (next == 44) {  // fragment header
      const uint16_t fo = rd16(h + 2);
      p.frag_offset = uint16_t(fo & 0xFFF8);
      p.more_fragments = fo & 1;
      p.fragment = true;
      p.later_fragment = p.frag_offset != 0;
      p.frag_id = rd32(h + 4);
    }
    next = uint8_t(h[0]);
    off += hlen;
  }
  p.proto = next;
  p.l4_off = uint16_t(off);
  if (p.fragment && p.frag_offset + uint32_t(p.l3_end - off) > 65535u) return ParseError::ip_fragment_too_long;
  if (p.later_fragment) return p;
  return parse_l4(f, p);
}

}  // namespace

const char* name(ParseError e) {
  switch (e) {
#define XFW_X(n, t) \
  case ParseError::n: return #n;
    XFW_PARSE_ERRORS(XFW_X)
#undef XFW_X
  }
  return "?";
}

std::variant<Parsed, ParseError> parse(std::span<const std::byte> frame) {
  if (frame.size() < 14 || frame.size() > 65535) return ParseError::frame_too_short;
  Parsed p;
  copy_to(p.dst_mac.b, frame.data());
  copy_to(p.src_mac.b, frame.data() + 6);
  p.ethertype = rd16(frame.data() + 12);
  switch (p.ethertype) {
    case ethertype::arp:
      p.l3 = L3::arp;
      return parse_arp(frame, p);
    case ethertype::ipv4:
      p.l3 = L3::ipv4;
      return parse_ipv4(frame, p);
    case ethertype::ipv6:
      p.l3 = L3::ipv6;
      return parse_ipv6(frame, p);
    default:
      return p;  // L3::other: VLAN tags, LLDP, ... (the pipeline drops them)
  }
}

bool l4_checksum_ok(std::span<const std::byte> frame, const Parsed& p) {
  if (!p.has_l4 || p.fragment) return false;
  const auto l4 = frame.subspan(p.l4_off, p.l4_len());
  if (p.l3 == L3::ipv4) {
    if (p.proto == ipproto::icmp) return checksum_ok(l4);
    if (p.proto == ipproto::udp && rd16(l4.data() + 6) == 0) return true;  // no checksum
    return checksum_ok(l4, pseudo_v4(p.src4, p.dst4, p.proto, p.l4_len()));
  }
  return checksum_ok(l4, pseudo_v6(p.src6, p.dst6, p.proto, p.l4_len()));
}

}  // namespace xfw::packet
