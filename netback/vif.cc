#include "netback/vif.h"

#include <algorithm>

namespace xfw::netback {

std::unique_ptr<Vif> Vif::connect(Deps deps, VifId id, const VifConnectParams& p,
                                  const VifLimits& limits, std::string* why) {
  std::unique_ptr<Vif> v(new Vif(deps, id, p, limits));
  v->tx_map_ = deps.gnt.map(p.domid, p.tx_ring_ref);
  if (!v->tx_map_) {
    *why = "cannot map tx-ring-ref " + std::to_string(p.tx_ring_ref.value());
    return nullptr;
  }
  v->rx_map_ = deps.gnt.map(p.domid, p.rx_ring_ref);
  if (!v->rx_map_) {
    *why = "cannot map rx-ring-ref " + std::to_string(p.rx_ring_ref.value());
    return nullptr;
  }
  v->tx_ = TxRing(v->tx_map_->data());
  v->rx_ = RxRing(v->rx_map_->data());
  // Attach at the guest's rsp_prod (0 on a fresh ring; where a previous backend stopped on a
  // live one). More than a ring's worth of outstanding requests is broken or hostile (item 1).
  v->tx_cons_ = v->tx_rsp_ = v->tx_.rsp_prod();
  v->rx_cons_ = v->rx_.rsp_prod();
  if (uint32_t(v->tx_.req_prod() - v->tx_cons_) > kRingSize ||
      uint32_t(v->rx_.req_prod() - v->rx_cons_) > kRingSize) {
    *why = "ring indices out of range at connect";
    return nullptr;
  }
  const auto port = deps.evt.bind_interdomain(p.domid, p.remote_port);
  if (!port) {
    *why = "cannot bind event channel " + std::to_string(p.remote_port.value());
    return nullptr;
  }
  v->port_ = *port;
  v->bound_ = true;
  // Ask for a kick on the next request of either ring.
  v->tx_.set_req_event(v->tx_cons_ + 1);
  v->rx_.set_req_event(v->rx_cons_ + 1);
  return v;
}

Vif::Vif(Deps deps, VifId id, const VifConnectParams& p, const VifLimits& limits)
    : deps_(deps), id_(id), params_(p), limits_(limits), rxq_(limits.rx_queue_bytes) {}

Vif::~Vif() {
  if (bound_) deps_.evt.unbind(port_);
  // tx_map_ / rx_map_ unmap in their destructors.
}

void Vif::fail(DropReason r) {
  if (!fatal_) {
    fatal_ = r;
    drop(r);
  }
}

bool Vif::takes_gso(uint8_t type) const {
  return params_.guest_rx_sg && ((type == XEN_NETIF_GSO_TYPE_TCPV4 && params_.guest_rx_gso4) ||
                                 (type == XEN_NETIF_GSO_TYPE_TCPV6 && params_.guest_rx_gso6));
}

bool Vif::queue_to_guest(std::span<const std::byte> frame, Gso gso, TxScratch& scratch, HeldRx* held) {
  if (fatal_) {
    drop(DropReason::rx_vif_down);
    return false;
  }
  if (rx_stalled_) {
    drop(DropReason::rx_stalled);
    return false;
  }
  const std::size_t max = params_.guest_rx_sg ? 65535 : xen::kPageSize;
  if (frame.size() > max || frame.empty()) {
    drop(DropReason::rx_too_big);
    return false;
  }
  if (gso && (!takes_gso(gso.type) || gso.size == 0)) {
    drop(DropReason::rx_gso_not_negotiated);
    return false;
  }
  if (frame.size() >= limits_.rx_now_min) {
    if (held ? rx_hold(frame, gso, *held) : rx_now(frame, gso, scratch)) return true;
  }
  if (!rxq_.push(frame, gso)) {
    drop(DropReason::rx_queue_full);
    return false;
  }
  return true;
}

std::optional<TimePoint> Vif::wake_at() const {
  std::optional<TimePoint> t;
  auto take = [&t](std::optional<TimePoint> x) {
    if (x && (!t || *x < *t)) t = x;
  };
  take(credit_wait_);
  take(kicks_.unmask_at());
  if (rx_waiting_since_) take(*rx_waiting_since_ + limits_.rx_stall_timeout);
  return t;
}

Vif::Pass Vif::service(FrameSink& sink, TxScratch& scratch, TimePoint now, bool kicked) {
  if (fatal_) return Pass::idle;
  if (kicked) {
    ++c_.events;
    masked_ = true;
  }
  bool notify = false;
  uint32_t handled = 0;
  const uint32_t tx_rsp = tx_rsp_, rx_cons = rx_cons_;
  bool more = tx_pass(sink, scratch, now, handled, notify);
  if (fatal_) return Pass::idle;
  more |= rx_pass(scratch, now, handled, notify);
  if (fatal_) return Pass::idle;
  // The guest's event waits while another pass follows at once (it sees the responses of
  // several passes in one upcall), unless a quarter of a ring's slots have been answered since
  // the last: a busy guest is not kept from its freed slots and received frames for long.
  notify_pending_ |= notify;
  unnotified_ += (tx_rsp_ - tx_rsp) + (rx_cons_ - rx_cons);
  if (notify_pending_ && (!more || unnotified_ >= kRingSize / 4)) {
    deps_.evt.notify(port_);
    ++c_.notifications;
    notify_pending_ = false;
    unnotified_ = 0;
  }

  // Event-channel masking (item 14): unmask only once no work is left; an event storm keeps the
  // port masked for a growing back-off.
  if (kicks_.after_pass(kicked, handled, more, now)) ++c_.spurious_events;
  const bool may_unmask = kicks_.may_unmask(now);  // also forgets a back-off that ended
  if (!more && masked_ && may_unmask) {
    deps_.evt.unmask(port_);
    masked_ = false;
  }
  return more ? Pass::more_work : Pass::idle;
}

}  // namespace xfw::netback
