#include "packet/segment.h"

#include <cstring>

namespace xfw::packet {
namespace {
constexpr uint8_t kFin = 0x01, kPsh = 0x08, kCwr = 0x80;
}

uint16_t partial_checksum(const Parsed& p) {
  const auto l4_len = uint32_t(p.l3_end - p.l4_off);
  return fold(p.l3 == L3::ipv4 ? pseudo_v4(p.src4, p.dst4, ipproto::tcp, l4_len)
                               : pseudo_v6(p.src6, p.dst6, ipproto::tcp, l4_len));
}

void set_partial_checksum(std::span<std::byte> frame, const Parsed& p) {
  wr16(frame.data() + p.l4_off + 16, partial_checksum(p));
}

std::size_t build_segment(std::span<const std::byte> frame, const Parsed& p, std::size_t off,
                          std::size_t payload, std::size_t index, bool last, std::byte* out) {
  const std::size_t tcp_hdr = tcp_header_len(frame, p);
  const std::size_t hdrs_end = p.l4_off + tcp_hdr;
  std::memcpy(out, frame.data(), hdrs_end);
  std::memcpy(out + hdrs_end, frame.data() + hdrs_end + off, payload);
  const std::size_t l4_len = tcp_hdr + payload;
  const std::size_t ip_len = p.l4_off - p.l3_off + l4_len;
  std::byte* ip = out + p.l3_off;
  std::byte* tcp = out + p.l4_off;
  uint64_t pseudo;
  if (p.l3 == L3::ipv4) {
    wr16(ip + 2, uint16_t(ip_len));
    wr16(ip + 4, uint16_t(rd16(ip + 4) + index));
    wr16(ip + 10, 0);
    wr16(ip + 10, checksum(std::span<const std::byte>(ip, p.l4_off - p.l3_off)));
    pseudo = pseudo_v4(p.src4, p.dst4, ipproto::tcp, uint32_t(l4_len));
  } else {
    wr16(ip + 4, uint16_t(ip_len - 40));
    pseudo = pseudo_v6(p.src6, p.dst6, ipproto::tcp, uint32_t(l4_len));
  }
  wr32(tcp + 4, uint32_t(rd32(tcp + 4) + off));
  uint8_t flags = std::to_integer<uint8_t>(tcp[13]);
  if (!last) flags &= uint8_t(~(kFin | kPsh));
  if (index > 0) flags &= uint8_t(~kCwr);
  tcp[13] = std::byte(flags);
  wr16(tcp + 16, 0);
  wr16(tcp + 16, checksum(std::span<const std::byte>(tcp, l4_len), pseudo));
  return p.l4_off + l4_len;
}

}  // namespace xfw::packet
