// tests/support/frames.h — byte-level frame builders for tests (golden frames in, frames out).
// Addresses: client 10.137.0.5 / fd09:24ef:4179::a89:5 (MAC 00:16:3e:5e:6c:00), gateway MAC
// fe:ff:ff:ff:ff:ff, remote 192.0.2.1 / 2001:db8::1.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <span>
#include <vector>

#include "packet/bytes.h"
#include "packet/checksum.h"
#include "packet/parse.h"

namespace xfw::testing {

using Bytes = std::vector<std::byte>;

inline Bytes hex(std::initializer_list<int> v) {
  Bytes b;
  for (int x : v) b.push_back(std::byte(x));
  return b;
}
inline void append(Bytes& b, const Bytes& x) { b.insert(b.end(), x.begin(), x.end()); }
// A frame built in place, for calls that rewrite their frame (Dataplane::from_guest, from_uplink):
// the temporary lives until the end of the full expression, as the call needs.
inline std::span<std::byte> writable(Bytes&& b) { return {b.data(), b.size()}; }

inline Bytes ether(uint16_t type) {
  Bytes b = hex({0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x16, 0x3e, 0x5e, 0x6c, 0x00});
  b.push_back(std::byte(type >> 8));
  b.push_back(std::byte(type));
  return b;
}

// Ethernet + IPv4 (+ option bytes) + transport bytes; the header checksum is filled in.
inline Bytes ipv4(uint8_t proto, const Bytes& l4, uint16_t frag = 0, const Bytes& opts = {},
                  packet::Ipv4Addr src = *packet::Ipv4Addr::parse("10.137.0.5"),
                  packet::Ipv4Addr dst = *packet::Ipv4Addr::parse("192.0.2.1")) {
  Bytes f = ether(packet::ethertype::ipv4);
  const auto ihl = uint8_t((20 + opts.size()) / 4);
  Bytes ip = hex({0x40 | ihl, 0, 0, 0, 0x12, 0x34, 0, 0, 64, proto, 0, 0});
  for (auto b : src.b) ip.push_back(std::byte(b));
  for (auto b : dst.b) ip.push_back(std::byte(b));
  packet::wr16(ip.data() + 2, uint16_t(ip.size() + opts.size() + l4.size()));
  packet::wr16(ip.data() + 6, frag);
  append(ip, opts);
  packet::wr16(ip.data() + 10, packet::checksum(ip));
  append(f, ip);
  append(f, l4);
  return f;
}

// UDP 10.137.0.5:40000 -> 192.0.2.1:dport with a correct checksum.
inline Bytes udp4(const Bytes& payload, uint16_t dport = 53) {
  Bytes u = hex({0x9c, 0x40, 0, 0, 0, 0, 0, 0});
  packet::wr16(u.data() + 2, dport);
  packet::wr16(u.data() + 4, uint16_t(8 + payload.size()));
  append(u, payload);
  const auto src = *packet::Ipv4Addr::parse("10.137.0.5"), dst = *packet::Ipv4Addr::parse("192.0.2.1");
  packet::wr16(u.data() + 6, packet::checksum(u, packet::pseudo_v4(src, dst, packet::ipproto::udp,
                                                                   uint32_t(u.size()))));
  return ipv4(packet::ipproto::udp, u);
}

inline Bytes ipv6(uint8_t next, const Bytes& rest,
                  packet::Ipv6Addr src = *packet::Ipv6Addr::parse("fd09:24ef:4179::a89:5")) {
  Bytes f = ether(packet::ethertype::ipv6);
  Bytes ip = hex({0x60, 0, 0, 0, 0, 0, next, 64});
  packet::wr16(ip.data() + 4, uint16_t(rest.size()));
  const auto dst = *packet::Ipv6Addr::parse("2001:db8::1");
  for (auto b : src.b) ip.push_back(std::byte(b));
  for (auto b : dst.b) ip.push_back(std::byte(b));
  append(f, ip);
  append(f, rest);
  return f;
}

// ARP request from 00:16:3e:5e:6c:00 / spa for tpa.
inline Bytes arp_request(const char* spa, const char* tpa, int op = 1) {
  Bytes f = ether(packet::ethertype::arp);
  append(f, hex({0, 1, 8, 0, 6, 4, 0, op, 0, 0x16, 0x3e, 0x5e, 0x6c, 0}));
  const packet::Ipv4Addr s = *packet::Ipv4Addr::parse(spa), t = *packet::Ipv4Addr::parse(tpa);
  for (auto b : s.b) f.push_back(std::byte(b));
  append(f, hex({0, 0, 0, 0, 0, 0}));
  for (auto b : t.b) f.push_back(std::byte(b));
  return f;
}

}  // namespace xfw::testing
