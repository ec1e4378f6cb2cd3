// tests/fuzz/reader.h — reads a fuzzer's input as a sequence of values; past the end, zeros.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>

namespace xfw::fuzz {

struct Reader {
  const uint8_t* p;
  size_t n;
  template <class T>
  T get() {
    T v{};
    const size_t k = std::min(sizeof v, n);
    std::memcpy(&v, p, k);
    p += k;
    n -= k;
    return v;
  }
  std::span<const uint8_t> bytes(size_t want) {
    const size_t k = std::min(want, n);
    std::span<const uint8_t> s(p, k);
    p += k;
    n -= k;
    return s;
  }
};

}  // namespace xfw::fuzz
