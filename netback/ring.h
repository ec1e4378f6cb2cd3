// netback/ring.h — the backend's view of one shared netif ring page (xen/io/ring.h ABI).
//
// The page is written concurrently by a hostile guest. This is the only code that touches it:
//  * indices are read with acquire loads, once per pass (NETBACK-HARDENING.md item 3);
//  * a request slot is copied into local memory exactly once and only the copy is used;
//  * responses are built locally, zero-initialised, and written whole (item 11, XSA-216);
//  * rsp_prod is published with release semantics, then rsp_event is read after a full fence,
//    the RING_PUSH_RESPONSES_AND_CHECK_NOTIFY protocol.
// Attaching (BACK_RING_ATTACH): the backend starts at the guest's current rsp_prod, so a fresh
// ring starts at 0 and a restarted backend resumes a live ring.
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

namespace xfw::netback {

inline constexpr uint32_t kRingSize = 256;  // for both tx and rx rings on a 4 KiB page
inline constexpr std::size_t kRingHeader = 64;

template <class Req, class Rsp>
class SharedRing {
  static constexpr std::size_t kSlot = sizeof(Req) > sizeof(Rsp) ? sizeof(Req) : sizeof(Rsp);
  static_assert(kRingHeader + kSlot * kRingSize <= xen::kPageSize);
  static_assert(std::is_trivially_copyable_v<Req> && std::is_trivially_copyable_v<Rsp>);

 public:
  SharedRing() = default;
  explicit SharedRing(std::byte* page) : page_(page) {}

  [[nodiscard]] uint32_t req_prod() const { return load(0); }
  // Read once, when attaching to a ring; afterwards only our private copy is used.
  [[nodiscard]] uint32_t rsp_prod() const { return load(8); }

  // Copies the request at free-running index `i` into local memory.
  [[nodiscard]] Req copy_req(uint32_t i) const {
    Req r;
    std::memcpy(&r, slot(i), sizeof r);
    std::atomic_signal_fence(std::memory_order_seq_cst);  // the compiler must not re-read
    return r;
  }
  // Copies a slot reinterpreted as another slot type (extra-info slots on the tx ring).
  template <class T>
  [[nodiscard]] T copy_slot_as(uint32_t i) const {
    static_assert(sizeof(T) <= kSlot && std::is_trivially_copyable_v<T>);
    T r;
    std::memcpy(&r, slot(i), sizeof r);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    return r;
  }

  void put_rsp(uint32_t i, const Rsp& rsp) { std::memcpy(slot(i), &rsp, sizeof rsp); }
  // Writes a response slot as another slot type (extra-info slots on the rx ring).
  template <class T>
  void put_slot_as(uint32_t i, const T& v) {
    static_assert(sizeof(T) <= kSlot && std::is_trivially_copyable_v<T>);
    std::memcpy(slot(i), &v, sizeof v);
  }

  // Publishes responses [old, new_prod); returns true if the guest asked to be notified.
  // `old` is our private copy: the shared rsp_prod is never read back.
  [[nodiscard]] bool push_responses(uint32_t old, uint32_t new_prod) {
    store(8, new_prod);  // release: responses are visible before the index
    std::atomic_thread_fence(std::memory_order_seq_cst);
    const uint32_t event = load(12);
    return uint32_t(new_prod - event) < uint32_t(new_prod - old);
  }

  // Asks the guest to notify us when req_prod passes `v - 1`. Callers re-check req_prod after.
  void set_req_event(uint32_t v) {
    store(4, v);
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }

 private:
  [[nodiscard]] std::byte* slot(uint32_t i) const {
    return page_ + kRingHeader + kSlot * (i & (kRingSize - 1));
  }
  // The four ring indices are naturally aligned u32 words at the start of the page; the guest
  // writes them concurrently, so they are accessed atomically and nowhere else.
  [[nodiscard]] uint32_t load(std::size_t off) const {
    return __atomic_load_n(reinterpret_cast<uint32_t*>(page_ + off), __ATOMIC_ACQUIRE);
  }
  void store(std::size_t off, uint32_t v) {
    __atomic_store_n(reinterpret_cast<uint32_t*>(page_ + off), v, __ATOMIC_RELEASE);
  }

  std::byte* page_ = nullptr;
};

using TxRing = SharedRing<netif_tx_request_t, netif_tx_response_t>;
using RxRing = SharedRing<netif_rx_request_t, netif_rx_response_t>;

// The layout this file assumes is the one netif.h defines.
static_assert(offsetof(netif_tx_sring, ring) == kRingHeader);
static_assert(offsetof(netif_rx_sring, ring) == kRingHeader);
static_assert(sizeof(netif_tx_sring_entry) == 12 && sizeof(netif_rx_sring_entry) == 8);
static_assert(sizeof(netif_extra_info_t) <= 12);

}  // namespace xfw::netback
