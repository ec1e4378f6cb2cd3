// netback/rx.cc — frames to the guest: the rx ring producer.
//
// The guest posts empty buffers (rx requests, one granted page each). A pass takes queued
// frames oldest first; a frame needs ceil(len / 4096) buffers (more than one only if the guest
// offered feature-sg); one batched grant copy fills them; each response goes in the slot of
// its request, echoing its id, with NETRXF_more_data on all but the last slot. Plain frames
// leave with complete checksums and no checksum flags, so the guest may verify them. A GSO
// super-frame (only for a guest that offered feature-gso-tcpv4/v6) takes one more buffer, right
// after its first, for the GSO extra-info slot (as Linux netback lays it out); its first
// response says NETRXF_extra_info | NETRXF_csum_blank | NETRXF_data_validated (the caller left
// the pseudo-header sum in the TCP checksum field, as CHECKSUM_PARTIAL wants).
// A frame of rx_now_min bytes or more (a super-frame) skips the queue when nothing waits before
// it and the guest has its buffers posted: it is grant-copied from where the caller holds it.
// A guest that posts no buffers while frames wait is given rx_stall_timeout, then its queue is
// dropped and further frames are dropped at once until it posts buffers again (item 15).
#include <algorithm>

#include "netback/vif.h"

namespace xfw::netback {
static_assert(kGsoTcpV4 == XEN_NETIF_GSO_TYPE_TCPV4 && kGsoTcpV6 == XEN_NETIF_GSO_TYPE_TCPV6);
namespace {

uint32_t slots_for(std::size_t len, Gso gso) {
  return uint32_t((len + xen::kPageSize - 1) / xen::kPageSize) + (gso ? 1 : 0);
}

}  // namespace

// Takes the buffers for one frame at `cons` and on, if the guest has posted them (`posted`
// from `cons`): their request ids go to `ids`, the copy segments to ops[nops...]; `cons`
// moves past them. false (nothing taken) if too few are posted.
bool Vif::rx_take(uint32_t posted, uint32_t& cons, std::span<const std::byte> data, Gso gso,
                  xen::GrantCopy* ops, uint32_t& nops, uint16_t* ids, RxFrame& fr) {
  const uint32_t need = slots_for(data.size(), gso);
  if (posted < need) return false;
  fr = {cons, need, nops, uint32_t(data.size()), gso};
  for (uint32_t s = 0, k = 0; s < need; ++s) {
    const netif_rx_request_t req = rx_.copy_req(cons++);
    ids[s] = req.id;
    if (gso && s == 1) continue;  // the extra-info slot: its buffer carries no data
    const std::size_t off = std::size_t(k++) * xen::kPageSize;
    const auto len = uint16_t(std::min(xen::kPageSize, data.size() - off));
    ops[nops++] = {xen::GrantCopy::Dir::to_guest, params_.domid, xen::GrantRef{req.gref}, 0, len,
                   const_cast<std::byte*>(data.data() + off), xen::GntStatus::general_error};
  }
  return true;
}

// After the copy: one frame's responses, each in the slot of its request, echoing its id.
void Vif::rx_answer(const RxFrame& fr, const xen::GrantCopy* ops, const uint16_t* ids) {
  const uint32_t ndata = fr.nslots - (fr.gso ? 1 : 0);
  bool ok = true;
  for (uint32_t o = fr.op_begin; o < fr.op_begin + ndata; ++o) ok &= ops[o].status == xen::GntStatus::okay;
  for (uint32_t s = 0, k = 0; s < fr.nslots; ++s) {
    if (fr.gso && s == 1) {
      netif_extra_info_t e{};
      e.type = XEN_NETIF_EXTRA_TYPE_GSO;
      e.u.gso.size = fr.gso.size;
      e.u.gso.type = fr.gso.type;
      rx_.put_slot_as(fr.cons + s, e);
      continue;
    }
    netif_rx_response_t rsp{};
    rsp.id = ids[s];
    rsp.offset = 0;
    rsp.flags = k + 1 < ndata ? NETRXF_more_data : 0;
    if (s == 0 && fr.gso) rsp.flags |= NETRXF_extra_info | NETRXF_csum_blank | NETRXF_data_validated;
    rsp.status = ok ? int16_t(ops[fr.op_begin + k].len) : int16_t(NETIF_RSP_ERROR);
    rx_.put_rsp(fr.cons + s, rsp);
    ++k;
  }
  if (ok) {
    ++c_.to_guest_packets;
    c_.to_guest_bytes += fr.len;
  } else {
    drop(DropReason::rx_grant_copy_failed);
  }
}

// Grant-copies up to `max` frames, at(i) for the i-th, into the buffers the guest posted up to
// `prod`, with one batched copy, and answers their requests; stops at the first frame whose
// buffers are not all posted yet. Returns how many went.
template <class At>
uint32_t Vif::rx_fill(TxScratch& scratch, uint32_t prod, uint32_t max, At at, bool& notify) {
  RxFrame frames[kRingSize];
  uint16_t ids[kRingSize];  // request ids by position in this pass (never indexed by id)
  uint32_t nframes = 0, nops = 0, cons = rx_cons_;
  while (nframes < max) {
    const auto [data, gso] = at(nframes);
    if (!rx_take(uint32_t(prod - cons), cons, data, gso, scratch.ops.data(), nops,
                 ids + (cons - rx_cons_), frames[nframes]))
      break;  // wait for more buffers
    ++nframes;
  }
  if (nops > 0) deps_.gnt.copy(std::span(scratch.ops.data(), nops));
  for (uint32_t f = 0; f < nframes; ++f) rx_answer(frames[f], scratch.ops.data(), ids + (frames[f].cons - rx_cons_));
  if (cons != rx_cons_) {
    notify |= rx_.push_responses(rx_cons_, cons);
    rx_cons_ = cons;
  }
  return nframes;
}

bool Vif::rx_pass(TxScratch& scratch, TimePoint now, uint32_t& handled, bool& notify) {
  const uint32_t prod = rx_.req_prod();  // once per pass (item 3)
  if (uint32_t(prod - rx_cons_) > kRingSize) {  // item 1
    fail(DropReason::fatal_rx_req_prod);
    return false;
  }
  if (rx_stalled_ && prod != rx_cons_) rx_stalled_ = false;  // buffers again: carrier back

  const uint32_t max_frames = std::min({limits_.rx_budget, kRingSize, rxq_.frames()});
  const uint32_t nframes = rx_fill(scratch, prod, max_frames,
                                   [&](uint32_t i) { return std::pair(rxq_.at(i), rxq_.gso_at(i)); }, notify);
  for (uint32_t f = 0; f < nframes; ++f) rxq_.pop();
  handled += nframes;

  if (rxq_.empty()) {
    rx_waiting_since_.reset();
    return false;
  }
  if (nframes == max_frames && nframes > 0) return true;  // budget used up; buffers may remain
  // Blocked on buffers: ask for a kick when enough are posted, then look once more.
  const uint32_t need = slots_for(rxq_.front().size(), rxq_.gso_at(0));
  rx_.set_req_event(rx_cons_ + need);
  if (uint32_t(rx_.req_prod() - rx_cons_) >= need) return true;
  if (!rx_waiting_since_) {
    rx_waiting_since_ = now;
  } else if (now - *rx_waiting_since_ >= limits_.rx_stall_timeout) {
    for (uint32_t n = rxq_.frames(); n > 0; --n) drop(DropReason::rx_stalled);
    rxq_.clear();
    rx_stalled_ = true;
    rx_waiting_since_.reset();
    rx_.set_req_event(rx_cons_ + 1);
  }
  return false;
}

// A frame straight from the caller's memory into the guest's buffers, when nothing waits before
// it and its buffers are posted: the queue's copy saved. The event for the guest goes with the
// vif's next pass (Netback activates it), once for everything sent meanwhile.
bool Vif::rx_now(std::span<const std::byte> frame, Gso gso, TxScratch& scratch) {
  if (!rxq_.empty() || rx_held_ != 0) return false;  // frames keep their order
  const uint32_t prod = rx_.req_prod();
  if (uint32_t(prod - rx_cons_) > kRingSize) return false;  // the next pass fails the vif (item 1)
  bool notify = false;
  if (rx_fill(scratch, prod, 1, [&](uint32_t) { return std::pair(frame, gso); }, notify) == 0) return false;
  notify_pending_ |= notify;
  return true;
}

// As rx_now, but the copy waits for Netback::flush_held(), made there with every other held
// frame's in one call: the frame's buffers are taken now (after those of frames held before).
bool Vif::rx_hold(std::span<const std::byte> frame, Gso gso, HeldRx& h) {
  if (!rxq_.empty()) return false;
  const uint32_t posted = uint32_t(rx_.req_prod() - rx_cons_);
  if (posted > kRingSize || posted < rx_held_) return false;  // item 1: the next pass sees it
  uint32_t cons = rx_cons_ + rx_held_;
  HeldRx::Frame& hf = h.frames[h.nframes];
  if (!rx_take(posted - rx_held_, cons, frame, gso, h.ops.data(), h.nops, h.ids.data() + h.nids, hf.rx))
    return false;
  hf.vif = this;
  hf.id_begin = h.nids;
  h.nids += hf.rx.nslots;
  ++h.nframes;
  rx_held_ += hf.rx.nslots;
  return true;
}

// Netback::flush_held(), after the copy: a held frame's responses (held frames are answered in
// the order they were taken).
void Vif::rx_held_done(const HeldRx::Frame& hf, const HeldRx& h) {
  rx_answer(hf.rx, h.ops.data(), h.ids.data() + hf.id_begin);
  notify_pending_ |= rx_.push_responses(rx_cons_, rx_cons_ + hf.rx.nslots);
  rx_cons_ += hf.rx.nslots;
  rx_held_ -= hf.rx.nslots;
}

}  // namespace xfw::netback
