// netback/tx.cc — frames from the guest: the tx ring consumer.
//
// One pass: read req_prod once; gather packets (first slot, extra-info slots, fragment slots),
// validating each copied request against NETBACK-HARDENING.md items 1-9; copy the data of every
// good packet with one batched grant copy (item 4, 10); answer every slot once, in order
// (item 11); deliver good frames to the sink. Per-packet problems drop that packet; ring
// protocol violations are fatal for the vif.
#include <algorithm>

#include "netback/vif.h"

namespace xfw::netback {
namespace {

constexpr uint32_t kAbusiveSlots = 20;  // 20 or more slots in one packet: disconnect (item 6)
constexpr uint32_t kMaxExtras = XEN_NETIF_EXTRA_TYPE_MAX - 1;
constexpr uint16_t kMinGsoSize = 48;

struct TxPacket {
  uint32_t rsp_begin, rsp_end;  // into the pass's response list
  uint32_t op_begin, op_end;    // into scratch.ops
  uint32_t data_off, len;       // into scratch.bytes
  TxFlags flags;
  std::optional<DropReason> drop;
};

struct TxResponse {
  uint16_t id;
  bool extra;  // extra-info slots are answered NETIF_RSP_NULL
};

}  // namespace

bool Vif::tx_credit_allows(uint32_t bytes, TimePoint now) {
  if (!params_.rate) return true;
  const auto& rate = *params_.rate;
  if (now >= credit_window_end_) {
    credit_left_ = rate.bytes;
    credit_window_end_ = now + std::chrono::microseconds(rate.usec);
  }
  if (bytes <= credit_left_) {
    credit_left_ -= bytes;
    return true;
  }
  if (bytes > rate.bytes && credit_left_ == rate.bytes) {  // larger than a whole window
    credit_left_ = 0;
    return true;
  }
  credit_wait_ = credit_window_end_;
  return false;
}

bool Vif::tx_pass(FrameSink& sink, TxScratch& scratch, TimePoint now, uint32_t& handled,
                  bool& notify) {
  if (credit_wait_) {
    if (now < *credit_wait_) return false;
    credit_wait_.reset();
  }
  const uint32_t prod = tx_.req_prod();  // once per pass (item 3)
  if (uint32_t(prod - tx_cons_) > kRingSize) {  // item 1
    fail(DropReason::fatal_tx_req_prod);
    return false;
  }

  TxPacket pkts[kRingSize];
  TxResponse rsps[kRingSize];
  uint32_t npkt = 0, nrsp = 0, nops = 0;
  std::size_t used = 0;
  const uint32_t max_pkts = std::min(limits_.tx_budget, kRingSize);
  bool blocked = false;  // out of credit or scratch space

  while (tx_cons_ != prod && npkt < max_pkts) {
    uint32_t idx = tx_cons_;
    const netif_tx_request_t first = tx_.copy_req(idx++);
    TxPacket& p = pkts[npkt];
    p = TxPacket{};
    p.rsp_begin = nrsp;
    rsps[nrsp++] = {first.id, false};
    p.flags = {(first.flags & NETTXF_csum_blank) != 0, (first.flags & NETTXF_data_validated) != 0, {}};

    // Extra-info slots follow the first slot (item 8).
    if (first.flags & NETTXF_extra_info) {
      bool more = true;
      for (uint32_t n = 0; more; ++n) {
        if (idx == prod) return fail(DropReason::fatal_tx_slots_beyond_prod), false;
        if (n == kMaxExtras) return fail(DropReason::fatal_tx_bad_extra), false;
        const auto e = tx_.copy_slot_as<netif_extra_info_t>(idx++);
        if (e.type == XEN_NETIF_EXTRA_TYPE_NONE || e.type >= XEN_NETIF_EXTRA_TYPE_MAX)
          return fail(DropReason::fatal_tx_bad_extra), false;
        if (e.type == XEN_NETIF_EXTRA_TYPE_GSO && !p.drop) {  // item 9
          // A segment size below Linux's tcp_min_snd_mss (48) would turn one super-frame into
          // over a thousand segments for the uplink to send.
          const bool sane = e.u.gso.size >= kMinGsoSize && (e.u.gso.type == XEN_NETIF_GSO_TYPE_TCPV4 ||
                                                  e.u.gso.type == XEN_NETIF_GSO_TYPE_TCPV6);
          if (!sane) {
            p.drop = DropReason::tx_bad_gso;
          } else if (!limits_.gso) {
            p.drop = DropReason::tx_gso_not_negotiated;
          } else {
            p.flags.gso = {e.u.gso.size, e.u.gso.type};  // a claim: the sink checks the packet
          }
        }
        // MCAST_ADD/DEL and HASH carry no data we use (multicast control and hashing are
        // not advertised); they are answered and ignored.
        rsps[nrsp++] = {0, true};
        more = (e.flags & XEN_NETIF_EXTRA_FLAG_MORE) != 0;
      }
    }

    // Fragment slots (item 6): the guest must have queued them all.
    netif_tx_request_t frags[kAbusiveSlots];
    uint32_t nfrags = 0;
    for (bool more = first.flags & NETTXF_more_data; more;) {
      if (idx == prod) return fail(DropReason::fatal_tx_slots_beyond_prod), false;
      if (1 + nfrags + 1 >= kAbusiveSlots) return fail(DropReason::fatal_tx_abusive_slots), false;
      frags[nfrags] = tx_.copy_req(idx++);
      rsps[nrsp++] = {frags[nfrags].id, false};
      more = (frags[nfrags].flags & NETTXF_more_data) != 0;
      ++nfrags;
    }
    p.rsp_end = nrsp;

    // Sizes (items 5, 7): the first slot's size is the packet length; every fragment is
    // non-empty, fits in what is left, and stays inside its page. 32-bit sums cannot wrap.
    const uint32_t total = first.size;
    uint32_t first_len = total;
    if (!p.drop && 1 + nfrags > XEN_NETIF_NR_SLOTS_MIN) p.drop = DropReason::tx_too_many_slots;
    if (!p.drop && total < 14) p.drop = DropReason::tx_runt;
    for (uint32_t i = 0; i < nfrags && !p.drop; ++i) {
      const uint32_t sz = frags[i].size;
      if (sz == 0) {
        p.drop = DropReason::tx_zero_fragment;
      } else if (sz > first_len) {
        p.drop = DropReason::tx_fragment_overflow;
      } else if (uint32_t(frags[i].offset) + sz > xen::kPageSize) {
        p.drop = DropReason::tx_slot_crosses_page;
      } else {
        first_len -= sz;
      }
    }
    if (!p.drop && first_len == 0) p.drop = DropReason::tx_zero_fragment;
    if (!p.drop && uint32_t(first.offset) + first_len > xen::kPageSize)
      p.drop = DropReason::tx_slot_crosses_page;

    if (!p.drop) {
      // Leave the packet on the ring if this batch is full or the vif is out of credit.
      if (used + total > TxScratch::kBytes || nops + 1 + nfrags > scratch.ops.size() ||
          !tx_credit_allows(total, now)) {
        nrsp = p.rsp_begin;
        blocked = true;
        break;
      }
      p.data_off = uint32_t(used);
      p.len = total;
      p.op_begin = nops;
      auto add_op = [&](const netif_tx_request_t& r, uint32_t len) {
        scratch.ops[nops++] = {xen::GrantCopy::Dir::from_guest, params_.domid, xen::GrantRef{r.gref},
                               r.offset, uint16_t(len), scratch.bytes.get() + used,
                               xen::GntStatus::general_error};
        used += len;
      };
      add_op(first, first_len);
      for (uint32_t i = 0; i < nfrags; ++i) add_op(frags[i], frags[i].size);
      p.op_end = nops;
    }
    tx_cons_ = idx;
    ++npkt;
  }

  if (nops > 0) deps_.gnt.copy(std::span(scratch.ops.data(), nops));

  // Answer every slot once, in ring order, then deliver (item 10, 11).
  const uint32_t rsp_start = tx_rsp_;
  for (uint32_t k = 0; k < npkt; ++k) {
    TxPacket& p = pkts[k];
    if (!p.drop) {
      for (uint32_t o = p.op_begin; o < p.op_end; ++o) {
        if (scratch.ops[o].status != xen::GntStatus::okay) p.drop = DropReason::tx_grant_copy_failed;
      }
    }
    const int16_t status = p.drop ? NETIF_RSP_ERROR : NETIF_RSP_OKAY;
    for (uint32_t r = p.rsp_begin; r < p.rsp_end; ++r) {
      netif_tx_response_t rsp{};
      rsp.id = rsps[r].id;
      rsp.status = rsps[r].extra ? int16_t(NETIF_RSP_NULL) : status;
      tx_.put_rsp(tx_rsp_++, rsp);
    }
  }
  if (tx_rsp_ != rsp_start) notify |= tx_.push_responses(rsp_start, tx_rsp_);

  for (uint32_t k = 0; k < npkt; ++k) {
    const TxPacket& p = pkts[k];
    if (p.drop) {
      drop(*p.drop);
      continue;
    }
    ++c_.from_guest_packets;
    c_.from_guest_bytes += p.len;
    sink.from_guest(id_, std::span(scratch.bytes.get() + p.data_off, p.len), p.flags);
  }
  handled += npkt;

  if (credit_wait_) return false;  // resume from the timer
  if (blocked || tx_cons_ != prod) return true;
  // RING_FINAL_CHECK_FOR_REQUESTS: ask for a kick, then look once more.
  tx_.set_req_event(tx_cons_ + 1);
  return tx_.req_prod() != tx_cons_;
}

}  // namespace xfw::netback
