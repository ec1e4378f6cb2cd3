// nat/huge_array.h — a fixed-size array in its own anonymous mapping, backed by huge pages
// where the kernel allows it (MADV_HUGEPAGE), for the connection table: at 1 M flows its
// ~110 MB would otherwise cost a TLB miss on top of the cache miss of every lookup.
// Elements are default-constructed; T must be trivially destructible.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <memory>
#include <new>
#include <type_traits>

namespace xfw::nat {

template <class T>
class HugeArray {
  static_assert(std::is_trivially_destructible_v<T>);

 public:
  HugeArray() = default;
  explicit HugeArray(std::size_t n) : n_(n), bytes_(n * sizeof(T)) {
    if (n == 0) return;
    void* p = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    if (bytes_ >= (2u << 20)) (void)::madvise(p, bytes_, MADV_HUGEPAGE);
    data_ = static_cast<T*>(p);
    std::uninitialized_default_construct_n(data_, n);
  }
  HugeArray(HugeArray&& o) noexcept { swap(o); }
  HugeArray& operator=(HugeArray&& o) noexcept {
    HugeArray tmp(std::move(o));
    swap(tmp);
    return *this;
  }
  ~HugeArray() {
    if (data_) ::munmap(data_, bytes_);
  }
  T& operator[](std::size_t i) { return data_[i]; }
  const T& operator[](std::size_t i) const { return data_[i]; }
  [[nodiscard]] std::size_t size() const { return n_; }

 private:
  void swap(HugeArray& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(n_, o.n_);
    std::swap(bytes_, o.bytes_);
  }
  T* data_ = nullptr;
  std::size_t n_ = 0, bytes_ = 0;
};

}  // namespace xfw::nat
