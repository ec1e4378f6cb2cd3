#include "packet/checksum.h"

#include "packet/bytes.h"

namespace xfw::packet {

uint64_t sum_bytes(std::span<const std::byte> data, uint64_t acc) {
  std::size_t i = 0;
  for (; i + 1 < data.size(); i += 2) acc += rd16(data.data() + i);
  if (i < data.size()) acc += uint16_t(uint16_t(data[i]) << 8);
  return acc;
}

uint16_t fold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  return uint16_t(sum);
}

uint64_t pseudo_v4(Ipv4Addr src, Ipv4Addr dst, uint8_t proto, uint32_t l4_len) {
  uint64_t s = sum_bytes(std::as_bytes(std::span(src.b)));
  s = sum_bytes(std::as_bytes(std::span(dst.b)), s);
  return s + proto + l4_len;
}

uint64_t pseudo_v6(const Ipv6Addr& src, const Ipv6Addr& dst, uint8_t next, uint32_t l4_len) {
  uint64_t s = sum_bytes(std::as_bytes(std::span(src.b)));
  s = sum_bytes(std::as_bytes(std::span(dst.b)), s);
  return s + (l4_len >> 16) + (l4_len & 0xFFFF) + next;
}

uint16_t update16(uint16_t csum, uint16_t old_word, uint16_t new_word) {
  const uint32_t s = uint32_t(uint16_t(~csum)) + uint16_t(~old_word) + new_word;
  return uint16_t(~fold(s));
}

uint16_t update32(uint16_t csum, uint32_t old_word, uint32_t new_word) {
  csum = update16(csum, uint16_t(old_word >> 16), uint16_t(new_word >> 16));
  return update16(csum, uint16_t(old_word), uint16_t(new_word));
}

}  // namespace xfw::packet
