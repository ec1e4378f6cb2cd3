// netfront/rx.cc — frames from sys-net's backend (NETFRONT-HARDENING.md items 1–4, 7).
//
// A frame is a chain of responses: data slots linked by NETRXF_more_data, the first one possibly
// followed by extra-info slots (NETRXF_extra_info, then XEN_NETIF_EXTRA_FLAG_MORE). The chain
// may end in a later pass; its state is kept in `as_`. Each slot is consumed exactly once, its
// data copied out of the page at once, and its buffer re-posted at once (buffer i & 255 at
// index i), so the backend always has every buffer but the ones it is answering.
#include <algorithm>
#include <cstring>

#include "netfront/link.h"

namespace xfw::netfront {

void Link::rx_end_frame(const RxHandler& rx) {
  if (!as_.bad && as_.len < 14) as_.bad = DropReason::rx_runt;
  if (as_.bad) {
    drop(*as_.bad);
  } else {
    as_.meta.bytes = {arena_.get() + frame_at_, as_.len};
    ++c_.rx_frames;
    c_.rx_bytes += as_.len;
    if (as_.meta.gso_type) ++c_.rx_gso;
    rx(as_.meta);
    frame_at_ = (frame_at_ + as_.len + 63) & ~std::size_t(63);  // the next one cache-line aligned
  }
  as_ = {};
}

bool Link::rx_pass(const RxHandler& rx, uint32_t& handled, bool& notify) {
  const uint32_t prod = rx_.rsp_prod();  // once per pass
  if (uint32_t(prod - rx_cons_) > uint32_t(rx_published_ - rx_cons_)) {
    fail(DropReason::fatal_rx_rsp_prod);
    return false;
  }
  // The last pass's frames are given up: the arena starts again, with the unfinished one.
  if (as_.active && frame_at_ != 0) std::memmove(arena_.get(), arena_.get() + frame_at_, as_.len);
  frame_at_ = 0;
  uint32_t frames = 0;
  for (; rx_cons_ != prod && frames < limits_.rx_budget; ++rx_cons_) {
    if (!as_.active && frame_at_ + kMaxFrame > kArenaBytes) break;  // the arena is full
    const uint32_t i = rx_cons_;
    const uint16_t id = uint16_t(i & (kRingSize - 1));
    if (as_.extra_next) {
      const auto e = rx_.copy_slot_as<netif_extra_info_t>(i);
      as_.extra_next = (e.flags & XEN_NETIF_EXTRA_FLAG_MORE) != 0;
      if (++as_.extras > 4 || e.type != XEN_NETIF_EXTRA_TYPE_GSO) {
        as_.bad = as_.bad.value_or(DropReason::rx_bad_extra);
      } else if (e.u.gso.size == 0 || !limits_.rx_gso ||
                 (e.u.gso.type != kGsoTcpV4 && e.u.gso.type != kGsoTcpV6)) {
        as_.bad = as_.bad.value_or(DropReason::rx_bad_gso);
      } else {
        as_.meta.gso_size = e.u.gso.size;
        as_.meta.gso_type = e.u.gso.type;
      }
    } else {
      const netif_rx_response_t r = rx_.copy_rsp(i);
      if (r.id != id) return fail(DropReason::fatal_rx_bad_id), false;
      if (!as_.active) {
        as_.active = true;
        as_.meta.csum_blank = (r.flags & NETRXF_csum_blank) != 0;
        as_.meta.data_validated = (r.flags & NETRXF_data_validated) != 0;
        as_.extra_next = (r.flags & NETRXF_extra_info) != 0;
      }
      as_.more = (r.flags & NETRXF_more_data) != 0;
      if (++as_.slots > kMaxSlots) {
        as_.bad = as_.bad.value_or(DropReason::rx_too_many_slots);
      } else if (r.status < 0) {
        as_.bad = as_.bad.value_or(DropReason::rx_error);
      } else if (uint32_t(r.offset) + uint32_t(r.status) > xen::kPageSize) {
        as_.bad = as_.bad.value_or(DropReason::rx_slot_crosses_page);
      } else if (as_.len + uint32_t(r.status) > kMaxFrame) {
        as_.bad = as_.bad.value_or(DropReason::rx_too_big);
      } else if (!as_.bad) {
        // Item 7: out of the shared page before anything looks at it.
        std::memcpy(arena_.get() + frame_at_ + as_.len, rx_pages_->page(id) + r.offset, uint32_t(r.status));
        as_.len += uint32_t(r.status);
      }
    }
    // The buffer is ours again: post it at the next index, where its id is the same.
    netif_rx_request_t req{};
    req.id = id;
    req.gref = rx_pages_->ref(id).value();
    rx_.put_req(rx_prod_++, req);
    ++handled;
    if (!as_.more && !as_.extra_next) {
      rx_end_frame(rx);
      ++frames;
    }
  }
  if (rx_prod_ != rx_published_) {
    notify |= rx_.push_requests(rx_published_, rx_prod_);
    rx_published_ = rx_prod_;
  }
  if (rx_cons_ != prod) return true;  // budget or arena spent
  rx_.set_rsp_event(rx_cons_ + 1);
  return rx_.rsp_prod() != rx_cons_;
}

}  // namespace xfw::netfront
