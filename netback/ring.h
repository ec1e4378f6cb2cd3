// netback/ring.h — the backend's view of one shared netif ring page (xen/ring.h).
//
// The page is written concurrently by a hostile guest:
//  * indices are read with acquire loads, once per pass (NETBACK-HARDENING.md item 3);
//  * a request slot is copied into local memory exactly once and only the copy is used;
//  * responses are built locally, zero-initialised, and written whole (item 11, XSA-216);
//  * rsp_prod is published with release semantics, then rsp_event is read after a full fence,
//    the RING_PUSH_RESPONSES_AND_CHECK_NOTIFY protocol.
// Attaching (BACK_RING_ATTACH): the backend starts at the guest's current rsp_prod, so a fresh
// ring starts at 0 and a restarted backend resumes a live ring.
#pragma once

#include "xen/ring.h"

namespace xfw::netback {

inline constexpr uint32_t kRingSize = xen::kNetifRingSize;

template <class Req, class Rsp>
class SharedRing {
  using Page = xen::RingPage<xen::kSlotSize<Req, Rsp>>;

 public:
  SharedRing() = default;
  explicit SharedRing(std::byte* page) : p_(page) {}

  [[nodiscard]] uint32_t req_prod() const { return p_.load(Page::req_prod); }
  // Read once, when attaching to a ring; afterwards only our private copy is used.
  [[nodiscard]] uint32_t rsp_prod() const { return p_.load(Page::rsp_prod); }

  // Copies the request at free-running index `i` into local memory.
  [[nodiscard]] Req copy_req(uint32_t i) const { return p_.template copy<Req>(i); }
  // Copies a slot reinterpreted as another slot type (extra-info slots on the tx ring).
  template <class T>
  [[nodiscard]] T copy_slot_as(uint32_t i) const {
    return p_.template copy<T>(i);
  }

  void put_rsp(uint32_t i, const Rsp& rsp) { p_.put(i, rsp); }
  // Writes a response slot as another slot type (extra-info slots on the rx ring).
  template <class T>
  void put_slot_as(uint32_t i, const T& v) {
    p_.put(i, v);
  }

  // Publishes responses [old, new_prod); returns true if the guest asked to be notified.
  [[nodiscard]] bool push_responses(uint32_t old, uint32_t new_prod) {
    return p_.push(Page::rsp_prod, Page::rsp_event, old, new_prod);
  }
  // Asks the guest to notify us when req_prod passes `v - 1`. Callers re-check req_prod after.
  void set_req_event(uint32_t v) { p_.set_event(Page::req_event, v); }

 private:
  Page p_;
};

using TxRing = SharedRing<netif_tx_request_t, netif_tx_response_t>;
using RxRing = SharedRing<netif_rx_request_t, netif_rx_response_t>;

}  // namespace xfw::netback
