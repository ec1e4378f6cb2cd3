// packet/segment.h — TCP segmentation in software, for a frame longer than the link it must
// cross (what a NIC's TSO does; RFC 9293 §3.7.1, RFC 7414's "TSO" notes).
//
// A frame may reach xfwd longer than a VM's MTU: a Linux uplink whose peer has TSO/GSO on
// hands AF_PACKET one "super-frame" per burst (a veth, or netfront with feature-gso). The VM
// must only ever get frames its link can carry, so such a frame is cut into segments:
//   - every segment repeats the Ethernet, IP and TCP headers (options included);
//   - payload: at most mtu - IP header - TCP header bytes each;
//   - IPv4: total length, identification (+1 per segment, as Linux's GSO does unless DF
//     says ids do not matter — kept simple: +1 always), header checksum; IPv6: payload length;
//   - TCP: sequence number advanced; FIN and PSH only on the last segment, CWR only on the
//     first; checksum computed in full.
// Only an unfragmented IPv4/IPv6 TCP packet is segmented (parse() must have accepted it);
// anything else returns false and nothing is emitted.
//   segment_tcp(frame, parsed, 1500, scratch, [&](std::span<const std::byte> seg) { send(seg); });
#pragma once

#include <cstddef>
#include <span>

#include "packet/bytes.h"
#include "packet/checksum.h"
#include "packet/parse.h"

namespace xfw::packet {

// The length of the TCP header (data offset) of a parsed TCP packet.
[[nodiscard]] inline std::size_t tcp_header_len(std::span<const std::byte> frame, const Parsed& p) {
  return std::size_t(std::to_integer<uint8_t>(frame[p.l4_off + 12]) >> 4) * 4;
}

// For a TCP super-frame handed on whole (GSO: Xen's NETRXF_csum_blank, Linux's
// CHECKSUM_PARTIAL): the checksum field holds only the pseudo-header sum, which whoever cuts
// the segments completes for each.
void set_partial_checksum(std::span<std::byte> frame, const Parsed& p);
[[nodiscard]] uint16_t partial_checksum(const Parsed& p);  // the value set_partial_checksum writes

// Segment number `index` (of `payload` bytes, starting `off` bytes into the TCP payload),
// written to `out` (room for the headers + payload). Returns its length.
std::size_t build_segment(std::span<const std::byte> frame, const Parsed& p, std::size_t off,
                          std::size_t payload, std::size_t index, bool last, std::byte* out);

// Calls emit(segment) for each segment, in order; false (nothing emitted) if the frame cannot
// be segmented: not TCP over IPv4/IPv6, a fragment, or headers leaving no room in mtu.
template <class Emit>
bool segment_tcp(std::span<const std::byte> frame, const Parsed& p, std::size_t mtu,
                 std::span<std::byte> scratch, Emit&& emit) {
  if ((p.l3 != L3::ipv4 && p.l3 != L3::ipv6) || p.proto != ipproto::tcp || !p.has_l4 || p.fragment)
    return false;
  const std::size_t ip_hdr = p.l4_off - p.l3_off;
  const std::size_t tcp_hdr = tcp_header_len(frame, p);
  const std::size_t headers = ip_hdr + tcp_hdr;
  if (mtu <= headers || p.l4_off + tcp_hdr > p.l3_end) return false;
  const std::size_t mss = mtu - headers;
  const std::size_t total = p.l3_end - p.l4_off - tcp_hdr;
  if (scratch.size() < p.l3_off + headers + mss) return false;
  for (std::size_t off = 0, i = 0; off == 0 || off < total; off += mss, ++i) {
    const std::size_t n = std::min(mss, total - off);
    const std::size_t len = build_segment(frame, p, off, n, i, off + n >= total, scratch.data());
    emit(std::span<const std::byte>(scratch.data(), len));
  }
  return true;
}

}  // namespace xfw::packet
