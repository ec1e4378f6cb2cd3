// tests/support/packets.h — whole IPv4 frames with any addresses, ports, TTL and MACs, with
// every checksum computed from scratch. Golden pipeline tests build the frame they expect with
// the same builders and compare bytes, so an incremental checksum update that is off by one
// bit fails the comparison.
#pragma once

#include <cstdio>
#include <string>

#include "packet/addr.h"
#include "packet/checksum.h"
#include "tests/support/frames.h"

namespace xfw::testing {

inline const packet::MacAddr kClientMac{{0x00, 0x16, 0x3e, 0x5e, 0x6c, 0x00}};
inline const packet::MacAddr kGwMac{{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff}};

struct Ip4 {
  std::string src, dst;
  uint8_t ttl = 64;
  packet::MacAddr smac = kClientMac, dmac = kGwMac;
  uint16_t id = 0x1234;
  uint16_t frag = 0x4000;  // DF
};

inline Bytes ip4_frame(const Ip4& h, uint8_t proto, Bytes l4, std::size_t csum_at) {
  const auto src = *packet::Ipv4Addr::parse(h.src), dst = *packet::Ipv4Addr::parse(h.dst);
  if (csum_at != SIZE_MAX) {
    const uint64_t pseudo = proto == packet::ipproto::icmp ? 0 : packet::pseudo_v4(src, dst, proto, uint32_t(l4.size()));
    packet::wr16(l4.data() + csum_at, packet::checksum(l4, pseudo));
  }
  Bytes f;
  for (auto b : h.dmac.b) f.push_back(std::byte(b));
  for (auto b : h.smac.b) f.push_back(std::byte(b));
  f.push_back(std::byte{0x08});
  f.push_back(std::byte{0x00});
  Bytes ip = hex({0x45, 0, 0, 0, 0, 0, 0, 0, h.ttl, proto, 0, 0});
  packet::wr16(ip.data() + 2, uint16_t(20 + l4.size()));
  packet::wr16(ip.data() + 4, h.id);
  packet::wr16(ip.data() + 6, h.frag);
  for (auto b : src.b) ip.push_back(std::byte(b));
  for (auto b : dst.b) ip.push_back(std::byte(b));
  packet::wr16(ip.data() + 10, packet::checksum(ip));
  append(f, ip);
  append(f, l4);
  return f;
}

inline Bytes tcp_segment(uint16_t sport, uint16_t dport, uint8_t flags, uint32_t seq, uint32_t ack,
                         const Bytes& payload = {}, uint16_t window = 65535) {
  Bytes t(20);
  packet::wr16(t.data(), sport);
  packet::wr16(t.data() + 2, dport);
  packet::wr32(t.data() + 4, seq);
  packet::wr32(t.data() + 8, ack);
  t[12] = std::byte{0x50};
  t[13] = std::byte{flags};
  packet::wr16(t.data() + 14, window);
  append(t, payload);
  return t;
}

inline Bytes tcp(const Ip4& h, uint16_t sport, uint16_t dport, uint8_t flags, uint32_t seq = 1000,
                 uint32_t ack = 0, const Bytes& payload = {}, uint16_t window = 65535) {
  return ip4_frame(h, packet::ipproto::tcp, tcp_segment(sport, dport, flags, seq, ack, payload, window), 16);
}

inline Bytes udp(const Ip4& h, uint16_t sport, uint16_t dport, const Bytes& payload = hex({1, 2, 3, 4})) {
  Bytes u(8);
  packet::wr16(u.data(), sport);
  packet::wr16(u.data() + 2, dport);
  packet::wr16(u.data() + 4, uint16_t(8 + payload.size()));
  append(u, payload);
  return ip4_frame(h, packet::ipproto::udp, u, 6);
}

inline Bytes icmp(const Ip4& h, uint8_t type, uint8_t code, uint16_t id, uint16_t seq,
                  const Bytes& payload = hex({0xab, 0xcd})) {
  Bytes m(8);
  m[0] = std::byte{type};
  m[1] = std::byte{code};
  packet::wr16(m.data() + 4, id);
  packet::wr16(m.data() + 6, seq);
  append(m, payload);
  return ip4_frame(h, packet::ipproto::icmp, m, 2);
}

// An ICMP error quoting `offending` (its IP header and first 8 transport bytes).
inline Bytes icmp_error(const Ip4& h, uint8_t type, uint8_t code, const Bytes& offending) {
  Bytes m(8);
  m[0] = std::byte{type};
  m[1] = std::byte{code};
  m.insert(m.end(), offending.begin() + 14, offending.begin() + 14 + 28);
  return ip4_frame(h, packet::ipproto::icmp, m, 2);
}

struct Ip6 {
  std::string src, dst;
  uint8_t hops = 64;
  packet::MacAddr smac = kClientMac, dmac = kGwMac;
};

inline Bytes ip6_frame(const Ip6& h, uint8_t next, Bytes l4, std::size_t csum_at) {
  const auto src = *packet::Ipv6Addr::parse(h.src), dst = *packet::Ipv6Addr::parse(h.dst);
  packet::wr16(l4.data() + csum_at, 0);
  packet::wr16(l4.data() + csum_at, packet::checksum(l4, packet::pseudo_v6(src, dst, next, uint32_t(l4.size()))));
  Bytes f;
  for (auto b : h.dmac.b) f.push_back(std::byte(b));
  for (auto b : h.smac.b) f.push_back(std::byte(b));
  f.push_back(std::byte{0x86});
  f.push_back(std::byte{0xdd});
  Bytes ip = hex({0x60, 0, 0, 0, 0, 0, next, h.hops});
  packet::wr16(ip.data() + 4, uint16_t(l4.size()));
  for (auto b : src.b) ip.push_back(std::byte(b));
  for (auto b : dst.b) ip.push_back(std::byte(b));
  append(f, ip);
  append(f, l4);
  return f;
}

inline Bytes tcp6(const Ip6& h, uint16_t sport, uint16_t dport, uint8_t flags, uint32_t seq = 1000,
                  uint32_t ack = 0) {
  return ip6_frame(h, packet::ipproto::tcp, tcp_segment(sport, dport, flags, seq, ack), 16);
}

// "" when equal, else where the frames first differ, for test messages.
inline std::string frame_diff(const Bytes& got, const Bytes& want) {
  if (got == want) return "";
  std::size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  auto dump = [&](const Bytes& b) {
    std::string s;
    char buf[4];
    for (std::size_t k = i; k < b.size() && k < i + 16; ++k) {
      std::snprintf(buf, sizeof buf, "%02x ", unsigned(b[k]));
      s += buf;
    }
    return s;
  };
  return "sizes " + std::to_string(got.size()) + "/" + std::to_string(want.size()) +
         ", first difference at byte " + std::to_string(i) + "\n  got:  " + dump(got) +
         "\n  want: " + dump(want);
}
#define EXPECT_FRAME(got, want) EXPECT_EQ(::xfw::testing::frame_diff(got, want), "")

}  // namespace xfw::testing
