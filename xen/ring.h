// xen/ring.h — raw access to one shared ring page (xen/io/ring.h ABI), for both ends.
//
// The other end writes the page concurrently and is hostile. This is the only code that touches
// a ring page; the backend's view (netback/ring.h) and the frontend's (netfront/ring.h) are
// built on it:
//  * the four indices are aligned u32 words read with acquire and written with release;
//  * a slot is copied into local memory exactly once (a compiler fence keeps it from being
//    re-read) and only the copy is used; what we write is built locally and copied in whole.
// Layout (netif.h): req_prod, req_event, rsp_prod, rsp_event (4 x u32), 48 bytes of padding,
// then 256 slots of max(sizeof req, sizeof rsp) bytes.
#pragma once

#include <xen/io/netif.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "xen/types.h"

namespace xfw::xen {

inline constexpr uint32_t kNetifRingSize = 256;  // tx and rx rings on a 4 KiB page
inline constexpr std::size_t kRingHeader = 64;

template <std::size_t kSlot>
class RingPage {
  static_assert(kRingHeader + kSlot * kNetifRingSize <= kPageSize);

 public:
  enum Index : std::size_t { req_prod = 0, req_event = 4, rsp_prod = 8, rsp_event = 12 };

  RingPage() = default;
  explicit RingPage(std::byte* page) : page_(page) {}

  [[nodiscard]] uint32_t load(Index i) const {
    return __atomic_load_n(reinterpret_cast<uint32_t*>(page_ + i), __ATOMIC_ACQUIRE);
  }
  void store(Index i, uint32_t v) {
    __atomic_store_n(reinterpret_cast<uint32_t*>(page_ + i), v, __ATOMIC_RELEASE);
  }
  // Copies the slot at free-running index `i` as a T (a request, a response, an extra-info).
  template <class T>
  [[nodiscard]] T copy(uint32_t i) const {
    static_assert(sizeof(T) <= kSlot && std::is_trivially_copyable_v<T>);
    T r;
    std::memcpy(&r, slot(i), sizeof r);
    std::atomic_signal_fence(std::memory_order_seq_cst);  // the compiler must not re-read
    return r;
  }
  template <class T>
  void put(uint32_t i, const T& v) {
    static_assert(sizeof(T) <= kSlot && std::is_trivially_copyable_v<T>);
    std::memcpy(slot(i), &v, sizeof v);
  }
  // Publishes our producer index [old, new_prod) and reads the other end's event index after a
  // full fence (RING_PUSH_*_AND_CHECK_NOTIFY): true if it asked to be notified. `old` is our
  // private copy; the shared index is never read back.
  [[nodiscard]] bool push(Index prod, Index event, uint32_t old, uint32_t new_prod) {
    store(prod, new_prod);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    const uint32_t e = load(event);
    return uint32_t(new_prod - e) < uint32_t(new_prod - old);
  }
  // Asks to be notified when the other end's producer passes `v - 1`; callers re-check it after.
  void set_event(Index event, uint32_t v) {
    store(event, v);
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
  [[nodiscard]] std::byte* page() const { return page_; }

 private:
  [[nodiscard]] std::byte* slot(uint32_t i) const {
    return page_ + kRingHeader + kSlot * (i & (kNetifRingSize - 1));
  }
  std::byte* page_ = nullptr;
};

template <class Req, class Rsp>
inline constexpr std::size_t kSlotSize = sizeof(Req) > sizeof(Rsp) ? sizeof(Req) : sizeof(Rsp);

// The layout this file assumes is the one netif.h defines.
static_assert(offsetof(netif_tx_sring, ring) == kRingHeader);
static_assert(offsetof(netif_rx_sring, ring) == kRingHeader);
static_assert(sizeof(netif_tx_sring_entry) == 12 && sizeof(netif_rx_sring_entry) == 8);
static_assert(sizeof(netif_extra_info_t) <= 12);

}  // namespace xfw::xen
