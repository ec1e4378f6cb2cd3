// packet/checksum.h — the Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//
//   uint16_t c = checksum(header);              // ones'-complement of the ones'-complement sum
//   c = update16(c, old_port, new_port);        // after rewriting one 16-bit field (NAT)
// Sums are kept unfolded in 32 (or 64) bits and folded at the end. pseudo_v4/v6 give the
// TCP/UDP/ICMPv6 pseudo-header sum (RFC 793 §3.1, RFC 8200 §8.1).
#pragma once

#include <cstdint>
#include <span>

#include "packet/addr.h"

namespace xfw::packet {

// Ones'-complement sum of the bytes as big-endian 16-bit words (odd length: zero-padded).
[[nodiscard]] uint64_t sum_bytes(std::span<const std::byte> data, uint64_t acc = 0);
[[nodiscard]] uint16_t fold(uint64_t sum);
// RFC 1071: the checksum field value for `data` (with its checksum field zeroed).
[[nodiscard]] inline uint16_t checksum(std::span<const std::byte> data, uint64_t acc = 0) {
  return uint16_t(~fold(sum_bytes(data, acc)));
}
// True if `data` (checksum field included) sums to 0xFFFF.
[[nodiscard]] inline bool checksum_ok(std::span<const std::byte> data, uint64_t acc = 0) {
  return fold(sum_bytes(data, acc)) == 0xFFFF;
}

[[nodiscard]] uint64_t pseudo_v4(Ipv4Addr src, Ipv4Addr dst, uint8_t proto, uint32_t l4_len);
[[nodiscard]] uint64_t pseudo_v6(const Ipv6Addr& src, const Ipv6Addr& dst, uint8_t next,
                                 uint32_t l4_len);

// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), for a 16-bit field changing from m to m'.
[[nodiscard]] uint16_t update16(uint16_t csum, uint16_t old_word, uint16_t new_word);
[[nodiscard]] uint16_t update32(uint16_t csum, uint32_t old_word, uint32_t new_word);

}  // namespace xfw::packet
