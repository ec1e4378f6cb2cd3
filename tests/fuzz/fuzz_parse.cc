// Fuzz target: the frame parser on arbitrary bytes. Every offset it reports must lie inside
// the frame, and checksum verification must be safe on whatever it accepted.
#include "packet/parse.h"

using namespace xfw::packet;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> f(reinterpret_cast<const std::byte*>(data), size);
  const auto r = parse(f);
  const auto* p = std::get_if<Parsed>(&r);
  if (p == nullptr) return 0;
  if (p->l3 == L3::ipv4 || p->l3 == L3::ipv6) {
    if (p->l3_end > size || p->l4_off > p->l3_end || p->l3_off > p->l4_off) __builtin_trap();
    if (p->has_l4 && p->l4_len() < 8) __builtin_trap();  // every parsed transport has >= 8
    (void)l4_checksum_ok(f, *p);
  }
  return 0;
}
