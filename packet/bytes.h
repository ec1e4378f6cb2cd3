// packet/bytes.h — big-endian field access over frame bytes, and the Be16/Be32 strong types.
//
// Frames are byte spans; fields are read with explicit byte arithmetic (no reinterpret_cast
// over guest bytes). Callers check bounds once (the parser does) and then read fixed offsets.
//   Be16 port = Be16::from_host(53);  port.host() == 53;  Be16 x = 53;  // does not compile
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>

namespace xfw::packet {

inline uint16_t rd16(const std::byte* p) { return uint16_t(uint16_t(p[0]) << 8 | uint16_t(p[1])); }
inline uint32_t rd32(const std::byte* p) { return uint32_t(rd16(p)) << 16 | rd16(p + 2); }
inline void wr16(std::byte* p, uint16_t v) {
  p[0] = std::byte(v >> 8);
  p[1] = std::byte(v);
}
inline void wr32(std::byte* p, uint32_t v) {
  wr16(p, uint16_t(v >> 16));
  wr16(p + 2, uint16_t(v));
}

struct Be16 {
  uint16_t raw = 0;  // network byte order
  static constexpr Be16 from_host(uint16_t h) { return Be16{uint16_t(h << 8 | h >> 8)}; }
  [[nodiscard]] constexpr uint16_t host() const { return uint16_t(raw << 8 | raw >> 8); }
  friend constexpr auto operator<=>(Be16, Be16) = default;
};

struct Be32 {
  uint32_t raw = 0;  // network byte order
  static constexpr Be32 from_host(uint32_t h) { return Be32{__builtin_bswap32(h)}; }
  [[nodiscard]] constexpr uint32_t host() const { return __builtin_bswap32(raw); }
  friend constexpr auto operator<=>(Be32, Be32) = default;
};

}  // namespace xfw::packet
