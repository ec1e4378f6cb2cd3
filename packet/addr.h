// packet/addr.h — strong address types: MacAddr, Ipv4Addr, Ipv6Addr.
//
// Stored in network byte order as byte arrays; no implicit conversion from integers or strings.
// Text forms: "00:16:3e:5e:6c:00", "10.137.0.5", "fd09:24ef:4179::a89:5". parse() is strict
// (full string, no whitespace) and returns nullopt on anything else.
#pragma once

#include <array>
#include <cstring>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace xfw::packet {

struct MacAddr {
  std::array<uint8_t, 6> b{};
  static std::optional<MacAddr> parse(std::string_view s);
  [[nodiscard]] std::string str() const;
  friend auto operator<=>(const MacAddr&, const MacAddr&) = default;
  // Inline (a compare per frame on the data path: std::array's would call memcmp).
  friend bool operator==(const MacAddr& x, const MacAddr& y) { return std::memcmp(x.b.data(), y.b.data(), 6) == 0; }
};

struct Ipv4Addr {
  std::array<uint8_t, 4> b{};
  static std::optional<Ipv4Addr> parse(std::string_view s);
  static constexpr Ipv4Addr from_host(uint32_t h) {
    return Ipv4Addr{{uint8_t(h >> 24), uint8_t(h >> 16), uint8_t(h >> 8), uint8_t(h)}};
  }
  [[nodiscard]] constexpr uint32_t to_host() const {
    return uint32_t(b[0]) << 24 | uint32_t(b[1]) << 16 | uint32_t(b[2]) << 8 | b[3];
  }
  [[nodiscard]] std::string str() const;
  friend auto operator<=>(const Ipv4Addr&, const Ipv4Addr&) = default;
};

struct Ipv6Addr {
  std::array<uint8_t, 16> b{};
  static std::optional<Ipv6Addr> parse(std::string_view s);
  [[nodiscard]] std::string str() const;
  friend auto operator<=>(const Ipv6Addr&, const Ipv6Addr&) = default;
};

}  // namespace xfw::packet
