// TCP segmentation of frames longer than a VM's MTU: the segments are compared byte for byte
// with frames built from scratch by the test builders (every checksum recomputed there), and
// a frame with TCP options is checked for what a receiver relies on.
#include <gtest/gtest.h>

// GCC 12 warns about its own vector::insert inlined into the frame builders here (a known
// false positive, -Warray-bounds "offset 20 is out of the bounds [0, 20]").
#pragma GCC diagnostic ignored "-Warray-bounds"
#pragma GCC diagnostic ignored "-Wstringop-overread"

#include <vector>

#include "packet/segment.h"
#include "tests/support/packets.h"

namespace xfw::packet {
namespace {

using namespace xfw::testing;

constexpr uint8_t kAck = 0x10, kPsh = 0x08, kFin = 0x01, kCwr = 0x80;

Bytes payload_of(std::size_t n) {
  Bytes p(n);
  for (std::size_t i = 0; i < n; ++i) p[i] = std::byte(i * 7 + 3);
  return p;
}
Bytes slice(const Bytes& b, std::size_t off, std::size_t n) { return Bytes(b.begin() + long(off), b.begin() + long(off + n)); }

std::vector<Bytes> segment(const Bytes& f, std::size_t mtu, bool* ok = nullptr) {
  const auto r = parse(f);
  EXPECT_TRUE(std::holds_alternative<Parsed>(r));
  std::vector<Bytes> out;
  std::vector<std::byte> scratch(14 + mtu);
  const bool done = std::holds_alternative<Parsed>(r) &&
                    segment_tcp(f, std::get<Parsed>(r), mtu, scratch, [&](std::span<const std::byte> s) {
                      out.emplace_back(s.begin(), s.end());
                    });
  if (ok) *ok = done;
  return out;
}

TEST(Segment, Ipv4SuperFrameBecomesMtuSizedSegments) {
  const Ip4 h{"192.168.100.1", "10.137.0.5"};
  const Bytes data = payload_of(4000);
  const Bytes f = tcp(h, 80, 40000, kAck | kPsh | kFin | kCwr, 5000, 77, data);
  const auto segs = segment(f, 1500);
  ASSERT_EQ(segs.size(), 3u);  // 1460 + 1460 + 1080
  const std::size_t sizes[] = {1460, 1460, 1080};
  const uint8_t flags[] = {kAck | kCwr, kAck, kAck | kPsh | kFin};
  std::size_t off = 0;
  for (std::size_t k = 0; k < 3; ++k) {
    Ip4 hk = h;
    hk.id = uint16_t(h.id + k);
    const Bytes want = tcp(hk, 80, 40000, flags[k], uint32_t(5000 + off), 77, slice(data, off, sizes[k]));
    EXPECT_EQ(frame_diff(segs[k], want), "") << "segment " << k;
    EXPECT_LE(segs[k].size(), 14u + 1500u);
    off += sizes[k];
  }
}

TEST(Segment, Ipv6WithOptionsKeepsHeadersAndChecksums) {
  const Ip6 h{"2001:db8::1", "fd09:24ef:4179::a89:5"};
  Bytes t = tcp_segment(443, 50000, kAck | kPsh, 0xfffffff0u, 1);  // sequence numbers wrap
  t[12] = std::byte{0x80};  // data offset 8: 12 bytes of options (NOP NOP timestamps)
  const Bytes opts = hex({1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2});
  t.insert(t.begin() + 20, opts.begin(), opts.end());
  const Bytes data = payload_of(3000);
  append(t, data);
  const Bytes f = ip6_frame(h, ipproto::tcp, t, 16);
  const auto segs = segment(f, 1500);
  const std::size_t mss = 1500 - 40 - 32;
  ASSERT_EQ(segs.size(), 3u);
  Bytes joined;
  for (std::size_t k = 0; k < segs.size(); ++k) {
    const auto r = parse(segs[k]);
    ASSERT_TRUE(std::holds_alternative<Parsed>(r)) << k;
    const Parsed& p = std::get<Parsed>(r);
    EXPECT_TRUE(l4_checksum_ok(segs[k], p)) << k;
    EXPECT_LE(segs[k].size(), 14u + 1500u);
    EXPECT_EQ(rd32(segs[k].data() + p.l4_off + 4), uint32_t(0xfffffff0u + k * mss)) << k;
    EXPECT_EQ(slice(segs[k], p.l4_off + 20, 12), opts) << k;
    EXPECT_EQ(p.tcp_flags & kPsh, k == 2 ? kPsh : 0) << k;
    joined.insert(joined.end(), segs[k].begin() + p.l4_off + 32, segs[k].end());
  }
  EXPECT_EQ(joined, data);
}

TEST(Segment, FrameThatFitsIsOneIdenticalSegment) {
  const Bytes f = tcp(Ip4{"192.168.100.1", "10.137.0.5"}, 80, 40000, kAck, 1, 2, payload_of(1460));
  const auto segs = segment(f, 1500);
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(frame_diff(segs[0], f), "");
}

TEST(Segment, OnlyTcpIsSegmented) {
  bool ok = true;
  const auto segs = segment(udp(Ip4{"192.168.100.1", "10.137.0.5"}, 53, 40000, payload_of(3000)), 1500, &ok);
  EXPECT_FALSE(ok);
  EXPECT_TRUE(segs.empty());
  // Headers that leave no room for payload in the MTU.
  ok = true;
  EXPECT_TRUE(segment(tcp(Ip4{"192.168.100.1", "10.137.0.5"}, 80, 40000, kAck, 1, 2, payload_of(100)), 40, &ok).empty());
  EXPECT_FALSE(ok);
}

// What a NIC (or Linux's skb_checksum_help) does with a partial checksum: sum from the TCP
// header to the end, the field included, and store the complement. That must give the right
// checksum, for IPv4 and IPv6.
TEST(Segment, PartialChecksumCompletesToTheRightOne) {
  std::vector<Bytes> frames;
  frames.push_back(tcp(Ip4{"192.168.100.2", "192.168.100.1"}, 40000, 80, kAck, 9, 9, payload_of(30001)));
  Bytes t6 = tcp_segment(40000, 80, kAck, 1, 1);
  append(t6, payload_of(5001));
  frames.push_back(ip6_frame(Ip6{"fd09:24ef:4179::a89:5", "2001:db8::1"}, ipproto::tcp, t6, 16));
  for (const Bytes& f : frames) {
    Bytes g = f;
    const auto p = std::get<Parsed>(parse(g));
    set_partial_checksum(g, p);
    EXPECT_EQ(rd16(g.data() + p.l4_off + 16), partial_checksum(p));
    EXPECT_FALSE(l4_checksum_ok(g, p));
    const uint16_t done = checksum(std::span<const std::byte>(g).subspan(p.l4_off, p.l3_end - p.l4_off));
    wr16(g.data() + p.l4_off + 16, done);
    EXPECT_TRUE(l4_checksum_ok(g, p));
    EXPECT_EQ(g, f);
  }
}

}  // namespace
}  // namespace xfw::packet
