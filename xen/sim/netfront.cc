// ring.h's front-end macros expect the guest kernel's barriers.
#include <atomic>
#define mb() std::atomic_thread_fence(std::memory_order_seq_cst)
#define rmb() std::atomic_thread_fence(std::memory_order_acquire)
#define wmb() std::atomic_thread_fence(std::memory_order_release)
#include "xen/sim/netfront.h"

#include <atomic>
#include <cstring>
#include <stdexcept>

#include "xen/sim/toolstack.h"

namespace xfw::xen::sim {

SimNetfront::SimNetfront(SimHypervisor& hv, DomId self, DomId backend, uint32_t devid,
                         SimNetfrontOptions opt)
    : hv_(hv),
      self_(self),
      backend_(backend),
      devid_(devid),
      opt_(opt),
      dir_(SimToolstack::frontend_path(self, devid)),
      xs_(hv, self),
      evt_(hv, self),
      tx_pages_(kRing),
      rx_pages_(kRing) {
  if (opt_.rx_buffers > kRing) opt_.rx_buffers = kRing;
  be_dir_ = xs_.read(kNoTxn, dir_ + "/backend").value_or("");
}

SimNetfront::~SimNetfront() { disconnect(); }

std::optional<int> SimNetfront::backend_state() {
  const auto s = xs_.read(kNoTxn, be_dir_ + "/state");
  if (!s || s->empty()) return std::nullopt;
  return std::atoi(s->c_str());
}

bool SimNetfront::write_key(const std::string& key, const std::string& value) {
  return xs_.write(kNoTxn, dir_ + "/" + key, value);
}

bool SimNetfront::step() {
  bool did = false;
  while (const auto p = evt_.pending()) {
    ++events_received;
    if (rings_up_) {
      collect_tx();
      collect_rx();
    }
    evt_.unmask(*p);
    did = true;
  }
  const auto bs = backend_state();
  if (state_ == 1 && bs == 2) {
    connect();
    did = true;
  } else if ((bs == 5 || bs == 6) && state_ != 6 && state_ != 1) {
    disconnect();  // xenbus_frontend_closed
    state_ = 6;
    write_key("state", "6");
    did = true;
  }
  return did;
}

void SimNetfront::connect() {
  tx_ring_page_ = Page{};
  rx_ring_page_ = Page{};
  tx_sring_ = reinterpret_cast<netif_tx_sring*>(tx_ring_page_.bytes);
  rx_sring_ = reinterpret_cast<netif_rx_sring*>(rx_ring_page_.bytes);
  SHARED_RING_INIT(tx_sring_);
  SHARED_RING_INIT(rx_sring_);
  FRONT_RING_INIT(&tx_, tx_sring_, kPageSize);
  FRONT_RING_INIT(&rx_, rx_sring_, kPageSize);
  tx_ring_ref_ = hv_.grant_access(self_, backend_, &tx_ring_page_, false);
  rx_ring_ref_ = hv_.grant_access(self_, backend_, &rx_ring_page_, false);
  tx_refs_.clear();
  rx_refs_.clear();
  for (uint32_t i = 0; i < kRing; ++i) {
    tx_refs_.push_back(hv_.grant_access(self_, backend_, &tx_pages_[i], true));
    rx_refs_.push_back(hv_.grant_access(self_, backend_, &rx_pages_[i], false));
  }
  free_ids_.clear();
  for (uint32_t i = kRing; i > 0; --i) free_ids_.push_back(uint16_t(i - 1));
  port_ = evt_.alloc_unbound(backend_);
  rings_up_ = true;

  for (int attempt = 0; attempt < 16; ++attempt) {
    const auto t = xs_.transaction_start();
    bool ok = t.has_value();
    auto w = [&](const char* k, const std::string& v) {
      ok = ok && xs_.write(*t, dir_ + "/" + k, v);
    };
    w("tx-ring-ref", std::to_string(tx_ring_ref_.value()));
    w("rx-ring-ref", std::to_string(rx_ring_ref_.value()));
    w("event-channel", std::to_string(port_->value()));
    w("request-rx-copy", opt_.request_rx_copy ? "1" : "0");
    w("feature-rx-notify", opt_.rx_notify ? "1" : "0");
    w("feature-sg", opt_.sg ? "1" : "0");
    w("feature-gso-tcpv4", opt_.rx_gso ? "1" : "0");
    w("feature-gso-tcpv6", opt_.rx_gso ? "1" : "0");
    w("feature-ipv6-csum-offload", "1");
    if (!ok) throw std::runtime_error("sim netfront: cannot write keys");
    const auto end = xs_.transaction_end(*t, true);
    if (end == XsTxnEnd::committed) break;
  }
  state_ = 4;
  write_key("state", "4");
  post_rx_buffers();
}

void SimNetfront::disconnect() {
  if (!rings_up_) return;
  rings_up_ = false;
  if (port_) evt_.unbind(*port_);
  port_.reset();
  hv_.end_access(self_, tx_ring_ref_);
  hv_.end_access(self_, rx_ring_ref_);
  for (auto r : tx_refs_) hv_.end_access(self_, r);
  for (auto r : rx_refs_) hv_.end_access(self_, r);
  partial_.clear();
}

void SimNetfront::close() {
  state_ = 5;
  write_key("state", "5");
}

void SimNetfront::reinit() {
  disconnect();
  state_ = 1;
  write_key("state", "1");
}

void SimNetfront::raw_notify() {
  if (port_ && evt_.notify(*port_)) ++notifies_sent;
}

void SimNetfront::post_rx_buffers() {
  for (uint32_t i = 0; i < opt_.rx_buffers; ++i) {
    netif_rx_request_t* req = RING_GET_REQUEST(&rx_, rx_.req_prod_pvt);
    req->id = uint16_t(i);
    req->gref = rx_refs_[i].value();
    posted_id_[rx_.req_prod_pvt % kRing] = req->id;
    ++rx_.req_prod_pvt;
  }
  int notify = 0;
  RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&rx_, notify);
  if (notify && opt_.rx_notify) raw_notify();
}

bool SimNetfront::send(std::span<const std::byte> frame, std::span<const uint16_t> slots) {
  if (!rings_up_ || frame.empty() || frame.size() > 0xFFFF) return false;
  std::vector<uint16_t> sizes(slots.begin(), slots.end());
  if (sizes.empty()) {
    for (std::size_t off = 0; off < frame.size(); off += kPageSize) {
      sizes.push_back(uint16_t(std::min(kPageSize, frame.size() - off)));
    }
  }
  if (sizes.size() > free_ids_.size() || sizes.size() > RING_FREE_REQUESTS(&tx_)) return false;
  std::size_t off = 0;
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    const uint16_t id = free_ids_.back();
    free_ids_.pop_back();
    const std::size_t n = std::min<std::size_t>(sizes[k], frame.size() - off);
    std::memcpy(tx_pages_[id].bytes, frame.data() + off, n);
    off += n;
    netif_tx_request_t* req = RING_GET_REQUEST(&tx_, tx_.req_prod_pvt);
    req->gref = tx_refs_[id].value();
    req->offset = 0;
    req->id = id;
    req->size = k == 0 ? uint16_t(frame.size()) : sizes[k];
    req->flags = uint16_t((k == 0 && opt_.tx_csum_offload ? NETTXF_csum_blank | NETTXF_data_validated : 0) |
                          (k + 1 < sizes.size() ? NETTXF_more_data : 0));
    ++tx_.req_prod_pvt;
  }
  int notify = 0;
  RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&tx_, notify);
  if (notify) raw_notify();
  return true;
}

void SimNetfront::collect_tx() {
  int more = 0;
  do {
    const RING_IDX rp = tx_sring_->rsp_prod;
    std::atomic_thread_fence(std::memory_order_acquire);
    // More responses than the ring holds: its indices were overwritten (a hostile-test guest
    // can post its own ring page as a receive buffer). Linux netfront gives up the same way.
    if (RING_IDX(rp - tx_.rsp_cons) > kRing) return;
    for (RING_IDX i = tx_.rsp_cons; i != rp; ++i) {
      const netif_tx_response_t* rsp = RING_GET_RESPONSE(&tx_, i);
      if (rsp->status == NETIF_RSP_NULL) {
        ++tx_null;
        continue;
      }
      rsp->status == NETIF_RSP_OKAY ? ++tx_ok : ++tx_error;
      if (rsp->id < kRing) free_ids_.push_back(rsp->id);
    }
    tx_.rsp_cons = rp;
    RING_FINAL_CHECK_FOR_RESPONSES(&tx_, more);
  } while (more);
}

void SimNetfront::collect_rx() {
  int more = 0;
  do {
    const RING_IDX rp = rx_sring_->rsp_prod;
    std::atomic_thread_fence(std::memory_order_acquire);
    if (RING_IDX(rp - rx_.rsp_cons) > kRing) return;  // as in collect_tx()
    for (RING_IDX i = rx_.rsp_cons; i != rp; ++i) {
      const netif_rx_response_t rsp = *RING_GET_RESPONSE(&rx_, i);
      uint16_t id;
      if (in_extra_) {  // the slot holds a netif_extra_info; its buffer was not used
        netif_extra_info_t e;
        std::memcpy(&e, RING_GET_RESPONSE(&rx_, i), sizeof e);
        rx_gso_extras.push_back(e);
        in_extra_ = (e.flags & XEN_NETIF_EXTRA_FLAG_MORE) != 0;
        id = posted_id_[i % kRing];
      } else {
        id = rsp.id < kRing ? rsp.id : 0;
        if (!in_frame_) {  // the first slot of a frame
          in_extra_ = (rsp.flags & NETRXF_extra_info) != 0;
          if (rsp.flags & NETRXF_csum_blank) ++rx_csum_blank;
        }
        if (rsp.status < 0 || rsp.offset + rsp.status > int(kPageSize)) {
          partial_bad_ = true;
        } else {
          const std::byte* p = rx_pages_[id].bytes + rsp.offset;
          partial_.insert(partial_.end(), p, p + rsp.status);
        }
        data_more_ = (rsp.flags & NETRXF_more_data) != 0;
        in_frame_ = true;
      }
      if (in_frame_ && !in_extra_ && !data_more_) {
        if (partial_bad_) {
          ++rx_errors;
        } else {
          ++rx_frames;
          received_.push_back(std::move(partial_));
        }
        partial_.clear();
        partial_bad_ = false;
        in_frame_ = false;
      }
      if (opt_.auto_repost) {
        netif_rx_request_t* req = RING_GET_REQUEST(&rx_, rx_.req_prod_pvt);
        req->id = id;
        req->gref = rx_refs_[id].value();
        posted_id_[rx_.req_prod_pvt % kRing] = id;
        ++rx_.req_prod_pvt;
      }
    }
    rx_.rsp_cons = rp;
    RING_FINAL_CHECK_FOR_RESPONSES(&rx_, more);
  } while (more);
  int notify = 0;
  RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&rx_, notify);
  if (notify && opt_.rx_notify) raw_notify();
}

std::optional<std::vector<std::byte>> SimNetfront::receive() {
  if (received_.empty()) return std::nullopt;
  auto f = std::move(received_.front());
  received_.pop_front();
  return f;
}

}  // namespace xfw::xen::sim
