// netfront/ring.h — the frontend's view of one shared netif ring page (xen/ring.h).
//
// The page is ours (we granted it) but sys-net's backend writes it concurrently:
//  * rsp_prod is read with an acquire load, once per pass (NETFRONT-HARDENING.md item 1);
//  * a response slot is copied into local memory exactly once and only the copy is used (item 2);
//  * requests are built locally and copied in whole; a request slot is never read back (item 6);
//  * req_event/rsp_event are hints the backend may scribble on (item 10): a wrong one costs
//    an extra or a missing notification, never a wrong index.
// FRONT_RING_INIT: a fresh page starts with every index 0 and both event indices 1.
#pragma once

#include "xen/ring.h"

namespace xfw::netfront {

inline constexpr uint32_t kRingSize = xen::kNetifRingSize;

template <class Req, class Rsp>
class FrontRing {
  using Page = xen::RingPage<xen::kSlotSize<Req, Rsp>>;

 public:
  FrontRing() = default;
  explicit FrontRing(std::byte* page) : p_(page) {
    p_.store(Page::req_event, 1);
    p_.store(Page::rsp_event, 1);
  }

  [[nodiscard]] uint32_t rsp_prod() const { return p_.load(Page::rsp_prod); }
  [[nodiscard]] Rsp copy_rsp(uint32_t i) const { return p_.template copy<Rsp>(i); }
  template <class T>
  [[nodiscard]] T copy_slot_as(uint32_t i) const {  // extra-info slots on the rx ring
    return p_.template copy<T>(i);
  }
  void put_req(uint32_t i, const Req& r) { p_.put(i, r); }
  template <class T>
  void put_slot_as(uint32_t i, const T& v) {  // extra-info slots on the tx ring
    p_.put(i, v);
  }
  // Publishes requests [old, new_prod); true if the backend asked to be notified.
  [[nodiscard]] bool push_requests(uint32_t old, uint32_t new_prod) {
    return p_.push(Page::req_prod, Page::req_event, old, new_prod);
  }
  // Asks the backend to notify us when rsp_prod passes `v - 1`. Callers re-check rsp_prod after.
  void set_rsp_event(uint32_t v) { p_.set_event(Page::rsp_event, v); }

 private:
  Page p_;
};

using TxRing = FrontRing<netif_tx_request_t, netif_tx_response_t>;
using RxRing = FrontRing<netif_rx_request_t, netif_rx_response_t>;

}  // namespace xfw::netfront
