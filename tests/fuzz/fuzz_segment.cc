// Fuzz target: TCP segmentation of whatever the parser accepts, at an MTU chosen by the input.
// Every segment must fit the MTU, parse, carry a correct TCP checksum, and together the
// segments must carry exactly the original payload.
#include <vector>

#include "packet/segment.h"

using namespace xfw::packet;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const std::size_t mtu = 40 + std::size_t(data[0]) * 8;
  const std::span<const std::byte> f(reinterpret_cast<const std::byte*>(data + 1), size - 1);
  const auto r = parse(f);
  const auto* p = std::get_if<Parsed>(&r);
  if (p == nullptr || !p->has_l4 || p->proto != ipproto::tcp) return 0;
  std::vector<std::byte> scratch(14 + mtu), joined;
  const std::size_t tcp_hdr = std::size_t(std::to_integer<uint8_t>(f[p->l4_off + 12]) >> 4) * 4;
  const bool ok = segment_tcp(f, *p, mtu, scratch, [&](std::span<const std::byte> s) {
    if (s.size() > 14 + mtu) __builtin_trap();
    const auto rs = parse(s);
    const auto* ps = std::get_if<Parsed>(&rs);
    if (ps == nullptr || !l4_checksum_ok(s, *ps)) __builtin_trap();
    joined.insert(joined.end(), s.begin() + ps->l4_off + long(tcp_hdr), s.begin() + ps->l3_end);
  });
  if (ok && !std::equal(joined.begin(), joined.end(), f.begin() + p->l4_off + long(tcp_hdr), f.begin() + p->l3_end))
    __builtin_trap();
  if (ok && joined.size() != std::size_t(p->l3_end - p->l4_off) - tcp_hdr) __builtin_trap();
  return 0;
}
