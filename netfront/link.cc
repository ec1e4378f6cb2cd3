#include "netfront/link.h"

namespace xfw::netfront {

Link::Link(Deps deps, const BackendFeatures& f, const Limits& limits)
    : deps_(deps), f_(f), limits_(limits), tx_in_flight_(kRingSize, false), tx_used_(kRingSize, 0) {
  tx_free_.reserve(kRingSize);
  for (uint32_t i = kRingSize; i-- > 0;) tx_free_.push_back(uint16_t(i));
}

std::unique_ptr<Link> Link::create(Deps deps, xen::DomId backend, const BackendFeatures& f,
                                   const Limits& limits, std::string* why) {
  std::unique_ptr<Link> l(new Link(deps, f, limits));
  l->ring_pages_ = deps.share.share(backend, 2, true);
  l->tx_pages_ = deps.share.share(backend, kRingSize, false);  // the backend only reads frames
  l->rx_pages_ = deps.share.share(backend, kRingSize, true);
  if (!l->ring_pages_ || !l->tx_pages_ || !l->rx_pages_) {
    *why = "cannot grant pages to domain " + std::to_string(backend.value());
    return nullptr;
  }
  const auto port = deps.evt.alloc_unbound(backend);
  if (!port) {
    *why = "cannot allocate an event channel for domain " + std::to_string(backend.value());
    return nullptr;
  }
  l->port_ = *port;
  l->bound_ = true;
  l->tx_ = TxRing(l->ring_pages_->page(0));
  l->rx_ = RxRing(l->ring_pages_->page(1));
  // Every receive buffer posted at once, buffer i at index i (id i): a response's slot names the
  // buffer it must have used. The backend sees them when it connects.
  for (uint32_t i = 0; i < kRingSize; ++i) {
    netif_rx_request_t r{};
    r.id = uint16_t(i);
    r.gref = l->rx_pages_->ref(i).value();
    l->rx_.put_req(i, r);
  }
  l->rx_prod_ = kRingSize;
  (void)l->rx_.push_requests(0, l->rx_prod_);
  l->rx_published_ = l->rx_prod_;
  l->rx_.set_rsp_event(1);
  l->tx_.set_rsp_event(1);
  return l;
}

Link::~Link() {
  if (bound_) deps_.evt.unbind(port_);
  // The pages end their grants in their destructors (item 9; item 13: nothing the backend can
  // still reach is freed, because a mapped page is kept).
}

Link::Pass Link::service(const RxHandler& rx, TimePoint now, bool kicked) {
  if (fatal_) return Pass::idle;
  if (kicked) {
    ++c_.events;
    masked_ = true;
  }
  uint32_t handled = 0;
  bool notify = false;
  bool more = tx_collect(now, handled);
  if (fatal_) return Pass::idle;
  more |= rx_pass(rx, handled, notify);
  if (fatal_) return Pass::idle;
  if (notify) {
    deps_.evt.notify(port_);
    ++c_.notifications;
  }
  // Item 11: bounded work per pass, unmask after the work, back off on a storm of empty kicks.
  if (kicks_.after_pass(kicked, handled, more, now)) ++c_.spurious_events;
  const bool may_unmask = kicks_.may_unmask(now);
  if (!more && masked_ && may_unmask) {
    deps_.evt.unmask(port_);
    masked_ = false;
  }
  return more ? Pass::more_work : Pass::idle;
}

}  // namespace xfw::netfront
