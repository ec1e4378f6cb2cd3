// daemon/heap.h — the heap in use: what a leak grows (RSS also grows as preallocated tables get
// touched). glibc's count of allocated bytes, mmap'd blocks included; under AddressSanitizer, whose
// allocator replaces glibc's (mallinfo2 then says 0), the sanitizer's own count.
#pragma once

#include <malloc.h>

#include <cstddef>
#include <cstdint>

// XFW_ASAN: an AddressSanitizer build (GCC says so with __SANITIZE_ADDRESS__, clang with
// __has_feature).
#if defined(__SANITIZE_ADDRESS__)
#define XFW_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define XFW_ASAN 1
#endif
#endif
#ifdef XFW_ASAN
// The sanitizer runtime's (sanitizer/allocator_interface.h, which GCC does not install).
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
#endif

namespace xfw {

inline uint64_t heap_bytes() {
#ifdef XFW_ASAN
  return __sanitizer_get_current_allocated_bytes();
#else
  const struct mallinfo2 m = mallinfo2();
  return uint64_t(m.uordblks) + uint64_t(m.hblkhd);
#endif
}

}  // namespace xfw
