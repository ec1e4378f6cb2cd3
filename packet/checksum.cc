#include "packet/checksum.h"

#include <bit>
#include <cstring>

#include "packet/bytes.h"

namespace xfw::packet {

uint16_t fold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  return uint16_t(sum);
}

// RFC 1071 §2(B): the sum does not depend on byte order, so the data is summed as 64-bit words
// in the machine's order, folded, and swapped into network order once. A zero sum stays zero and any other multiple of 0xFFFF folds to 0xFFFF, as the
// word-by-word sum does, so the result is the same.
uint64_t sum_bytes(std::span<const std::byte> data, uint64_t acc) {
  const std::byte* p = data.data();
  std::size_t n = data.size();
  uint64_t s = 0, carries = 0;
  for (; n >= 8; p += 8, n -= 8) {  // 64-bit words, the carries counted apart (end-around)
    uint64_t w;
    std::memcpy(&w, p, 8);
    s += w;
    carries += s < w;
  }
  s = (s & 0xFFFFFFFF) + (s >> 32) + carries;
  if (n >= 4) {
    uint32_t w;
    std::memcpy(&w, p, 4);
    s += w;
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    uint16_t w;
    std::memcpy(&w, p, 2);
    s += w;
    p += 2;
    n -= 2;
  }
  if (n) s += uint8_t(*p);  // the last byte is the high byte of its big-endian word
  uint16_t v = fold(s);
  if constexpr (std::endian::native == std::endian::little) v = uint16_t(v << 8 | v >> 8);
  return acc + v;
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
