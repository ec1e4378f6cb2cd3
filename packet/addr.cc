#include "packet/addr.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstdio>

namespace xfw::packet {
namespace {

// inet_pton needs a NUL-terminated string; addresses are short, so copy into a bounded buffer.
template <std::size_t N>
bool to_cstr(std::string_view s, char (&buf)[N]) {
  if (s.empty() || s.size() >= N) return false;
  for (char c : s) {
    if (c == '\0') return false;
  }
  s.copy(buf, s.size());
  buf[s.size()] = '\0';
  return true;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<MacAddr> MacAddr::parse(std::string_view s) {
  if (s.size() != 17) return std::nullopt;
  MacAddr m;
  for (std::size_t i = 0; i < 6; ++i) {
    const int hi = hex_digit(s[i * 3]);
    const int lo = hex_digit(s[i * 3 + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    if (i < 5 && s[i * 3 + 2] != ':') return std::nullopt;
    m.b[i] = uint8_t(hi << 4 | lo);
  }
  return m;
}

std::string MacAddr::str() const {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4],
                b[5]);
  return buf;
}

std::optional<Ipv4Addr> Ipv4Addr::parse(std::string_view s) {
  char buf[INET_ADDRSTRLEN];
  Ipv4Addr a;
  if (!to_cstr(s, buf) || inet_pton(AF_INET, buf, a.b.data()) != 1) return std::nullopt;
  return a;
}

std::string Ipv4Addr::str() const {
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, b.data(), buf, sizeof buf);
  return buf;
}

std::optional<Ipv6Addr> Ipv6Addr::parse(std::string_view s) {
  char buf[INET6_ADDRSTRLEN];
  Ipv6Addr a;
  if (!to_cstr(s, buf) || inet_pton(AF_INET6, buf, a.b.data()) != 1) return std::nullopt;
  return a;
}

std::string Ipv6Addr::str() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, b.data(), buf, sizeof buf);
  return buf;
}

}  // namespace xfw::packet
