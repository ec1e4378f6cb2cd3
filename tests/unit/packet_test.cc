// Parsing and checksums: known vectors, byte-level frames for every header the parser follows,
// and every way a header can lie about its length.
#include <gtest/gtest.h>

#include <random>

#include "packet/bytes.h"
#include "packet/checksum.h"
#include "packet/parse.h"
#include "tests/support/frames.h"

namespace xfw::packet {
namespace {

using namespace xfw::testing;

Parsed ok(const Bytes& f) {
  auto r = parse(f);
  if (auto* e = std::get_if<ParseError>(&r)) ADD_FAILURE() << name(*e);
  return std::get<Parsed>(r);
}
ParseError err(const Bytes& f) {
  auto r = parse(f);
  if (!std::holds_alternative<ParseError>(r)) ADD_FAILURE() << "parsed";
  return std::holds_alternative<ParseError>(r) ? std::get<ParseError>(r) : ParseError{};
}

TEST(Checksum, KnownIpv4HeaderVector) {
  // The classic example header: checksum 0xb861.
  Bytes h = hex({0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0,
                 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7});
  EXPECT_EQ(checksum(h), 0xb861);
  wr16(h.data() + 10, 0xb861);
  EXPECT_TRUE(checksum_ok(h));
  EXPECT_EQ(checksum(hex({0x01})), uint16_t(~0x0100));  // odd length: zero-padded
}

TEST(Checksum, IncrementalUpdateMatchesRecomputation) {
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    Bytes d(40);
    for (auto& b : d) b = std::byte(rng());
    wr16(d.data() + 10, 0);
    const uint16_t c = checksum(d);
    const uint16_t old16 = rd16(d.data() + 20), new16 = uint16_t(rng());
    const uint32_t old32 = rd32(d.data() + 24), new32 = uint32_t(rng());
    wr16(d.data() + 20, new16);
    wr32(d.data() + 24, new32);
    const uint16_t inc = update32(update16(c, old16, new16), old32, new32);
    wr16(d.data() + 10, inc);
    EXPECT_TRUE(checksum_ok(d)) << i;  // same verdict as a full recomputation
  }
}

TEST(Parse, ArpRequest) {
  Bytes f = ether(ethertype::arp);
  append(f, hex({0, 1, 8, 0, 6, 4, 0, 1, 0, 0x16, 0x3e, 0x5e, 0x6c, 0, 10, 137, 0, 5, 0, 0, 0, 0,
                 0, 0, 10, 137, 0, 1}));
  const auto p = ok(f);
  EXPECT_EQ(p.l3, L3::arp);
  EXPECT_EQ(p.arp_op, 1);
  EXPECT_EQ(p.arp_spa.str(), "10.137.0.5");
  EXPECT_EQ(p.arp_tpa.str(), "10.137.0.1");
  EXPECT_EQ(p.arp_sha.str(), "00:16:3e:5e:6c:00");
  f[18] = std::byte{8};  // hardware length 8
  EXPECT_EQ(err(f), ParseError::arp_malformed);
  f.resize(14 + 27);
  EXPECT_EQ(err(f), ParseError::arp_malformed);
}

TEST(Parse, Ipv4UdpWithChecksumsAndPadding) {
  Bytes f = udp4(hex({1, 2, 3}));
  f.resize(64, std::byte{0xAA});  // Ethernet padding after the IP packet
  const auto p = ok(f);
  EXPECT_EQ(p.l3, L3::ipv4);
  EXPECT_EQ(p.src4.str(), "10.137.0.5");
  EXPECT_EQ(p.dst4.str(), "192.0.2.1");
  EXPECT_EQ(p.proto, ipproto::udp);
  EXPECT_EQ(p.sport, 40000);
  EXPECT_EQ(p.dport, 53);
  EXPECT_EQ(p.l3_end, 14 + 20 + 8 + 3);
  EXPECT_EQ(p.l4_len(), 11);
  EXPECT_TRUE(l4_checksum_ok(f, p));
  f[14 + 20 + 8] ^= std::byte{1};  // corrupt the payload
  EXPECT_FALSE(l4_checksum_ok(f, ok(f)));
  Bytes z = udp4(hex({9}));
  wr16(z.data() + 14 + 20 + 6, 0);  // RFC 768: no checksum
  EXPECT_TRUE(l4_checksum_ok(z, ok(z)));
}

TEST(Parse, Ipv4HeaderLies) {
  const Bytes good = udp4(hex({1, 2, 3, 4}));
  Bytes f = good;
  f[14] = std::byte{0x65};
  EXPECT_EQ(err(f), ParseError::ip_bad_version);
  f = good;
  f[14] = std::byte{0x44};
  EXPECT_EQ(err(f), ParseError::ip_bad_header_length);
  f = good;
  f[14] = std::byte{0x4F};  // 60-byte header in a 32-byte packet
  EXPECT_EQ(err(f), ParseError::ip_bad_total_length);
  f = good;
  wr16(f.data() + 16, 2000);
  EXPECT_EQ(err(f), ParseError::ip_bad_total_length);
  f = good;
  f[14 + 8] = std::byte{1};  // TTL changed, checksum not
  EXPECT_EQ(err(f), ParseError::ip_bad_header_checksum);
  f = good;
  f.resize(14 + 19);
  EXPECT_EQ(err(f), ParseError::ip_truncated);
  EXPECT_EQ(err(hex({1, 2, 3})), ParseError::frame_too_short);
}

TEST(Parse, Ipv4OptionsAndTransportLies) {
  Bytes tcp = hex({0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0});
  const auto p = ok(ipv4(ipproto::tcp, tcp, 0, hex({1, 1, 1, 0})));  // 4 bytes of options
  EXPECT_EQ(p.l4_off, 14 + 24);
  EXPECT_EQ(p.dport, 80);
  EXPECT_EQ(p.tcp_flags, 0x02);
  Bytes bad = tcp;
  bad[12] = std::byte{0x40};  // data offset 16 < 20
  EXPECT_EQ(err(ipv4(ipproto::tcp, bad)), ParseError::tcp_bad_data_offset);
  bad[12] = std::byte{0x60};  // 24 > 20 available
  EXPECT_EQ(err(ipv4(ipproto::tcp, bad)), ParseError::tcp_bad_data_offset);
  EXPECT_EQ(err(ipv4(ipproto::tcp, hex({1, 2, 3}))), ParseError::l4_truncated);
  EXPECT_EQ(err(ipv4(ipproto::udp, hex({0, 1, 0, 2, 0, 9, 0, 0}))), ParseError::udp_bad_length);
  EXPECT_EQ(err(ipv4(ipproto::icmp, hex({8, 0, 0}))), ParseError::l4_truncated);
  const auto echo = ok(ipv4(ipproto::icmp, hex({8, 0, 0, 0, 0x12, 0x34, 0, 1})));
  EXPECT_EQ(echo.icmp_type, 8);
  EXPECT_EQ(echo.sport, 0x1234);
}

// As Linux's ip_options_compile checks the options of a packet it receives (docs/parity.md).
TEST(Parse, Ipv4OptionsAsLinuxChecksThem) {
  const Bytes u = hex({0x9c, 0x40, 0, 53, 0, 8, 0, 0});
  EXPECT_EQ(ok(ipv4(ipproto::udp, u, 0, hex({1, 131, 7, 4, 192, 0, 2, 1}))).refused_option, 131);
  EXPECT_EQ(ok(ipv4(ipproto::udp, u, 0, hex({1, 137, 7, 4, 192, 0, 2, 1}))).refused_option, 137);
  EXPECT_EQ(ok(ipv4(ipproto::udp, u, 0, hex({134, 6, 0, 0, 0, 9, 0, 0}))).refused_option, 134);
  EXPECT_EQ(ok(ipv4(ipproto::udp, u, 0, hex({7, 7, 4, 0, 0, 0, 0, 0}))).refused_option, 0);  // record route
  EXPECT_EQ(ok(ipv4(ipproto::udp, u, 0, hex({0, 131, 0, 0}))).refused_option, 0);  // after end-of-list: padding
  EXPECT_EQ(err(ipv4(ipproto::udp, u, 0, hex({68, 0, 0, 0}))), ParseError::ip_bad_options);    // length < 2
  EXPECT_EQ(err(ipv4(ipproto::udp, u, 0, hex({7, 9, 4, 0}))), ParseError::ip_bad_options);     // past the header
  EXPECT_EQ(err(ipv4(ipproto::udp, u, 0, hex({1, 1, 1, 7}))), ParseError::ip_bad_options);     // no room for a length
  EXPECT_EQ(err(ipv4(ipproto::udp, u, 0, hex({131, 3, 3, 0}))), ParseError::ip_bad_options);   // route pointer < 4
  EXPECT_EQ(err(ipv4(ipproto::udp, u, 0, hex({68, 4, 4, 0}))), ParseError::ip_bad_options);    // timestamp pointer < 5
  EXPECT_EQ(err(ipv4(ipproto::udp, Bytes(16), 8191)), ParseError::ip_fragment_too_long);       // 65528 + 16
  EXPECT_TRUE(ok(ipv4(ipproto::udp, Bytes(7), 8191)).later_fragment);                          // 65528 + 7
}

TEST(Parse, Ipv4Fragments) {
  const Bytes u = hex({0x9c, 0x40, 0, 53, 0, 100, 0, 0});  // claims 100 bytes in all
  const auto first = ok(ipv4(ipproto::udp, u, 0x2000));  // MF, offset 0
  EXPECT_TRUE(first.fragment);
  EXPECT_TRUE(first.has_l4);
  EXPECT_EQ(first.dport, 53);
  const auto later = ok(ipv4(ipproto::udp, hex({1, 2, 3}), 0x0003));  // offset 24 bytes
  EXPECT_TRUE(later.later_fragment);
  EXPECT_FALSE(later.has_l4);
  EXPECT_EQ(later.frag_offset, 24);
  EXPECT_EQ(later.frag_id, 0x1234u);
}

TEST(Parse, Ipv6ExtensionHeaders) {
  const Bytes tcp = hex({0x9c, 0x40, 1, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 1, 0, 0, 0, 0, 0});
  auto p = ok(ipv6(ipproto::tcp, tcp));
  EXPECT_EQ(p.l3, L3::ipv6);
  EXPECT_EQ(p.dport, 443);
  EXPECT_EQ(p.src6.str(), "fd09:24ef:4179::a89:5");
  // hop-by-hop (8 bytes) -> fragment (first, MF) -> tcp
  Bytes chain = hex({44, 0, 1, 4, 0, 0, 0, 0, ipproto::tcp, 0, 0, 1, 0, 0, 0, 9});
  append(chain, tcp);
  p = ok(ipv6(0, chain));
  EXPECT_EQ(p.proto, ipproto::tcp);
  EXPECT_TRUE(p.fragment);
  EXPECT_TRUE(p.has_l4);
  EXPECT_EQ(p.frag_id, 9u);
  EXPECT_EQ(p.l4_off, 14 + 40 + 16);
  // hop-by-hop not first
  Bytes misplaced = hex({0, 0, 0, 0, 0, 0, 0, 0, ipproto::tcp, 0, 1, 4, 0, 0, 0, 0});
  append(misplaced, tcp);
  EXPECT_EQ(err(ipv6(60, misplaced)), ParseError::ipv6_bad_extension_header);
  // an extension header longer than the packet
  EXPECT_EQ(err(ipv6(60, hex({6, 200, 0, 0, 0, 0, 0, 0}))), ParseError::ipv6_bad_extension_header);
  // nine destination-options headers
  Bytes nine;
  for (int i = 0; i < 9; ++i) append(nine, hex({60, 0, 1, 4, 0, 0, 0, 0}));
  EXPECT_EQ(err(ipv6(60, nine)), ParseError::ipv6_too_many_extension_headers);
  // payload length beyond the frame
  Bytes f = ipv6(ipproto::tcp, tcp);
  wr16(f.data() + 14 + 4, 500);
  EXPECT_EQ(err(f), ParseError::ip_bad_total_length);
}

TEST(Parse, Ipv6IcmpChecksum) {
  Bytes icmp = hex({128, 0, 0, 0, 0, 7, 0, 1, 'h', 'i'});
  const auto src = *Ipv6Addr::parse("fd09:24ef:4179::a89:5"), dst = *Ipv6Addr::parse("2001:db8::1");
  wr16(icmp.data() + 2, checksum(icmp, pseudo_v6(src, dst, ipproto::icmpv6, uint32_t(icmp.size()))));
  const Bytes f = ipv6(ipproto::icmpv6, icmp);
  const auto p = ok(f);
  EXPECT_EQ(p.icmp_type, 128);
  EXPECT_TRUE(l4_checksum_ok(f, p));
}

TEST(Parse, OtherEthertypesAreReportedNotParsed) {
  const auto p = ok(ether(ethertype::vlan));
  EXPECT_EQ(p.l3, L3::other);
  EXPECT_EQ(p.ethertype, ethertype::vlan);
}

}  // namespace
}  // namespace xfw::packet
