// netfront/tx.cc — frames toward sys-net's backend, and its answers.
#include <algorithm>
#include <cstring>

#include "netfront/link.h"

namespace xfw::netfront {

bool Link::send(std::span<const std::byte> frame, std::optional<TxOffload> offload) {
  if (!ready()) return drop(DropReason::tx_down), false;
  const uint32_t len = uint32_t(frame.size());
  if (len < 14 || len > max_frame()) return drop(DropReason::tx_too_big), false;
  const bool gso = offload && offload->gso_size > 0;
  if (gso && !takes_gso(offload->v6)) return drop(DropReason::tx_gso_not_negotiated), false;
  const uint32_t slots = (len + uint32_t(xen::kPageSize) - 1) / uint32_t(xen::kPageSize);
  if (slots > kMaxSlots) return drop(DropReason::tx_too_big), false;
  if (!has_room(slots, gso)) {
    // Answers are collected lazily (tx_collect): take in what the backend has answered first.
    uint32_t handled = 0;
    (void)tx_collect(Clock::now(), handled);
    if (!ready()) return drop(DropReason::tx_down), false;  // the answers were bad (the uplink resets)
    if (!has_room(slots, gso)) return drop(DropReason::tx_ring_full), false;
  }
  if (tx_outstanding() == 0) tx_progress_ = Clock::now();  // the stall clock starts now

  uint32_t off = 0;
  for (uint32_t s = 0; s < slots; ++s) {
    const uint16_t id = tx_free_.back();
    tx_free_.pop_back();
    tx_in_flight_[id] = true;
    const auto chunk = uint16_t(std::min<uint32_t>(len - off, uint32_t(xen::kPageSize)));
    std::byte* page = tx_pages_->page(id);
    std::memcpy(page, frame.data() + off, chunk);
    // Item 8: the page holds this frame and zeros. Only what the previous frame left past this
    // one's end needs clearing.
    if (tx_used_[id] > chunk) std::memset(page + chunk, 0, tx_used_[id] - chunk);
    tx_used_[id] = chunk;

    netif_tx_request_t r{};  // built locally, written whole (item 6)
    r.gref = tx_pages_->ref(id).value();
    r.offset = 0;
    r.id = id;
    r.size = s == 0 ? uint16_t(len) : chunk;  // the first slot carries the frame's length
    if (s + 1 < slots) r.flags |= NETTXF_more_data;
    if (s == 0 && offload) r.flags |= NETTXF_csum_blank | NETTXF_data_validated;
    if (s == 0 && gso) r.flags |= NETTXF_extra_info;
    tx_.put_req(tx_prod_++, r);
    if (s == 0 && gso) {
      netif_extra_info_t e{};
      e.type = XEN_NETIF_EXTRA_TYPE_GSO;
      e.u.gso.size = offload->gso_size;
      e.u.gso.type = offload->v6 ? kGsoTcpV6 : kGsoTcpV4;
      tx_.put_slot_as(tx_prod_++, e);
      ++tx_extras_;
    }
    off += chunk;
  }
  ++c_.tx_frames;
  c_.tx_bytes += len;
  if (gso) ++c_.tx_gso;
  if (tx_prod_ - tx_published_ >= kRingSize / 2) flush();
  return true;
}

void Link::flush() {
  if (tx_prod_ == tx_published_ || fatal_) return;
  const bool notify = tx_.push_requests(tx_published_, tx_prod_);
  tx_published_ = tx_prod_;
  if (notify) {
    deps_.evt.notify(port_);
    ++c_.notifications;
  }
}

// Transmit responses (items 1, 3, 5): every slot we published, extra-info ones included, gets
// exactly one; a data slot's names an id in flight, an extra-info slot's is NETIF_RSP_NULL.
bool Link::tx_collect(TimePoint now, uint32_t& handled) {
  const uint32_t prod = tx_.rsp_prod();  // once per pass
  if (uint32_t(prod - tx_cons_) > uint32_t(tx_published_ - tx_cons_)) {
    fail(DropReason::fatal_tx_rsp_prod);
    return false;
  }
  for (; tx_cons_ != prod; ++tx_cons_) {
    const netif_tx_response_t r = tx_.copy_rsp(tx_cons_);
    if (r.status == NETIF_RSP_NULL) {
      if (tx_extras_ == 0) return fail(DropReason::fatal_tx_bad_status), false;
      --tx_extras_;
      continue;
    }
    if (r.status != NETIF_RSP_OKAY && r.status != NETIF_RSP_ERROR && r.status != NETIF_RSP_DROPPED) {
      return fail(DropReason::fatal_tx_bad_status), false;
    }
    if (r.id >= kRingSize || !tx_in_flight_[r.id]) return fail(DropReason::fatal_tx_bad_id), false;
    tx_in_flight_[r.id] = false;  // only now is the page ours again
    tx_free_.push_back(r.id);
    if (r.status == NETIF_RSP_ERROR) drop(DropReason::tx_error);
    if (r.status == NETIF_RSP_DROPPED) drop(DropReason::tx_dropped);
    ++handled;
    tx_progress_ = now;
  }
  // An event is asked for only when the ring needs its slots back: with more than half of it
  // outstanding, once half of that is answered (as Linux's netfront does always). Below that, no
  // event (rsp_event past the last slot the backend can answer): the answers wait for the next
  // pass that runs anyway (a receive event, send() finding the ring short, the uplink's pass
  // once a second). At a low rate, an event per answered frame was a second wake-up of xfwd for
  // every frame sent. Then look again: a response that came meanwhile is work for another pass.
  const uint32_t out = tx_outstanding();
  tx_.set_rsp_event(out > kRingSize / 2 ? tx_cons_ + out / 2 : tx_cons_ + kRingSize + 1);
  return tx_.rsp_prod() != tx_cons_;
}

}  // namespace xfw::netfront
