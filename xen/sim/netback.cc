// ring.h's back-end macros expect the kernel's barriers.
#include <atomic>
#define mb() std::atomic_thread_fence(std::memory_order_seq_cst)
#define rmb() std::atomic_thread_fence(std::memory_order_acquire)
#define wmb() std::atomic_thread_fence(std::memory_order_release)
#include "xen/sim/netback.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "xen/sim/toolstack.h"

namespace xfw::xen::sim {

SimNetback::SimNetback(SimHypervisor& hv, DomId self, DomId frontend, uint32_t devid,
                       SimNetbackOptions opt)
    : hv_(hv),
      self_(self),
      frontend_(frontend),
      opt_(opt),
      dir_(SimToolstack::backend_path(self, frontend, devid)),
      fe_dir_(SimToolstack::frontend_path(frontend, devid)),
      xs_(hv, self),
      gnt_(hv, self),
      evt_(hv, self) {}

SimNetback::~SimNetback() { disconnect(); }

void SimNetback::write_key(const std::string& key, const std::string& value) {
  (void)xs_.write(kNoTxn, dir_ + "/" + key, value);
}

void SimNetback::set_state(int s) {
  state_ = s;
  write_key("state", std::to_string(s));
}

std::optional<int> SimNetback::frontend_state() {
  const auto s = xs_.read(kNoTxn, fe_dir_ + "/state");
  if (!s || s->empty()) return std::nullopt;
  return std::atoi(s->c_str());
}

bool SimNetback::step() {
  bool did = false;
  while (const auto p = evt_.pending()) {
    ++events_received;
    if (opt_.auto_tx && tx_map_) collect_tx();
    evt_.unmask(*p);
    did = true;
  }
  if (!xs_.read(kNoTxn, dir_ + "/state")) return did;  // no device (yet, or any more)
  const auto fs = frontend_state();
  if (state_ == 1) {  // probe: advertise what we take, then wait for the frontend
    write_key("feature-sg", opt_.sg ? "1" : "0");
    write_key("feature-rx-copy", opt_.rx_copy ? "1" : "0");
    write_key("feature-gso-tcpv4", opt_.gso4 ? "1" : "0");
    write_key("feature-gso-tcpv6", opt_.gso6 ? "1" : "0");
    set_state(2);
    did = true;
  } else if (state_ == 2 && (fs == 3 || fs == 4)) {
    connect();
    did = true;
  } else if (fs == 5 && state_ != 5 && state_ != 6) {
    disconnect();
    set_state(5);
    did = true;
  } else if ((fs == 6 || !fs) && state_ != 6 && state_ != 1) {
    disconnect();
    set_state(6);
    did = true;
  } else if (fs == 1 && state_ == 6) {
    set_state(2);  // "prepare for reconnect"
    did = true;
  }
  if (opt_.auto_tx && tx_map_ && RING_HAS_UNCONSUMED_REQUESTS(&tx_)) {
    collect_tx();
    did = true;
  }
  return did;
}

void SimNetback::connect() {
  auto key = [&](const char* k) { return xs_.read(kNoTxn, fe_dir_ + "/" + k).value_or(""); };
  // Linux reads the frontend's multi-queue-num-queues (1 when absent); it offers no
  // multi-queue-max-queues here, and more than 1 is "guest requested N queues, exceeding the
  // maximum of 1": fatal.
  if (const auto q = key("multi-queue-num-queues"); !q.empty() && q != "1") {
    set_state(5);
    return;
  }
  tx_map_ = gnt_.map(frontend_, GrantRef{uint32_t(std::strtoul(key("tx-ring-ref").c_str(), nullptr, 10))});
  rx_map_ = gnt_.map(frontend_, GrantRef{uint32_t(std::strtoul(key("rx-ring-ref").c_str(), nullptr, 10))});
  port_ = evt_.bind_interdomain(frontend_,
                                EvtchnPort{uint32_t(std::strtoul(key("event-channel").c_str(), nullptr, 10))});
  if (!tx_map_ || !rx_map_ || !port_) {  // Linux: "mapping shared-frames ... failed"
    disconnect();
    set_state(5);
    return;
  }
  BACK_RING_INIT(&tx_, reinterpret_cast<netif_tx_sring*>(tx_map_->data()), kPageSize);
  BACK_RING_INIT(&rx_, reinterpret_cast<netif_rx_sring*>(rx_map_->data()), kPageSize);
  set_state(4);
}

void SimNetback::disconnect() {
  if (port_) evt_.unbind(*port_);
  port_.reset();
  tx_map_.reset();
  rx_map_.reset();
}

void SimNetback::close() {
  disconnect();
  set_state(5);
}

void SimNetback::raw_notify() {
  if (port_ && evt_.notify(*port_)) ++notifies_sent;
}

bool SimNetback::raw_write_page(GrantRef ref, uint16_t offset, std::span<const std::byte> bytes) {
  GrantCopy op;
  op.dir = GrantCopy::Dir::to_guest;
  op.dom = frontend_;
  op.ref = ref;
  op.offset = offset;
  op.len = uint16_t(bytes.size());
  op.local = const_cast<std::byte*>(bytes.data());
  gnt_.copy(std::span(&op, 1));
  return op.status == GntStatus::okay;
}

bool SimNetback::raw_hold_mapping(GrantRef ref) {
  auto m = gnt_.map(frontend_, ref);
  if (!m) return false;
  held_.push_back(std::move(m));
  return true;
}

// The frontend's frames: follow NETTXF_more_data, read a GSO extra, grant-copy each slot, and
// answer every slot (extra-info ones with NETIF_RSP_NULL), as xenvif_tx_build_gops does.
void SimNetback::collect_tx() {
  int more = 0;
  do {
    const RING_IDX rp = tx_.sring->req_prod;
    std::atomic_thread_fence(std::memory_order_acquire);
    while (tx_.req_cons != rp) {
      SimBackendFrame f;
      std::vector<netif_tx_request_t> slots;
      netif_tx_request_t first;
      RING_COPY_REQUEST(&tx_, tx_.req_cons++, &first);
      slots.push_back(first);
      f.flags = first.flags;
      int extras = 0;
      if (first.flags & NETTXF_extra_info) {
        netif_tx_request_t slot;  // an extra-info slot is a request slot holding a smaller struct
        RING_COPY_REQUEST(&tx_, tx_.req_cons++, &slot);
        netif_extra_info_t e;
        std::memcpy(&e, &slot, sizeof e);
        f.gso_size = e.u.gso.size;
        f.gso_type = e.u.gso.type;
        ++extras;
      }
      for (uint16_t fl = first.flags; (fl & NETTXF_more_data) && tx_.req_cons != rp;) {
        netif_tx_request_t r;
        RING_COPY_REQUEST(&tx_, tx_.req_cons++, &r);
        slots.push_back(r);
        fl = r.flags;
      }
      bool ok = first.size >= 14;
      uint32_t rest = first.size;
      for (std::size_t k = 0; k < slots.size() && ok; ++k) {
        uint32_t n = k == 0 ? first.size : slots[k].size;
        if (k == 0 && slots.size() > 1) {
          uint32_t others = 0;
          for (std::size_t j = 1; j < slots.size(); ++j) others += slots[j].size;
          n = first.size - std::min<uint32_t>(others, first.size);
        }
        n = std::min(n, rest);
        std::vector<std::byte> buf(n);
        GrantCopy op;
        op.dom = frontend_;
        op.ref = GrantRef{slots[k].gref};
        op.offset = slots[k].offset;
        op.len = uint16_t(n);
        op.local = buf.data();
        gnt_.copy(std::span(&op, 1));
        ok = op.status == GntStatus::okay;
        f.bytes.insert(f.bytes.end(), buf.begin(), buf.end());
        rest -= n;
      }
      for (std::size_t k = 0; k < slots.size(); ++k) {
        netif_tx_response_t* rsp = RING_GET_RESPONSE(&tx_, tx_.rsp_prod_pvt++);
        rsp->id = slots[k].id;
        rsp->status = ok ? NETIF_RSP_OKAY : NETIF_RSP_ERROR;
        if (k == 0) {
          for (int e = 0; e < extras; ++e) RING_GET_RESPONSE(&tx_, tx_.rsp_prod_pvt++)->status = NETIF_RSP_NULL;
        }
      }
      if (ok) {
        ++tx_ok;
        received_.push_back(std::move(f));
      } else {
        ++tx_error;
      }
    }
    int notify = 0;
    RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&tx_, notify);
    if (notify) raw_notify();
    RING_FINAL_CHECK_FOR_REQUESTS(&tx_, more);
  } while (more);
}

bool SimNetback::send(std::span<const std::byte> frame, uint16_t flags, uint16_t gso_size,
                      uint8_t gso_type) {
  if (!rx_map_ || frame.empty()) return false;
  const std::size_t slots = (frame.size() + kPageSize - 1) / kPageSize + (gso_type ? 1 : 0);
  const RING_IDX posted = rx_.sring->req_prod;
  std::atomic_thread_fence(std::memory_order_acquire);
  if (posted - rx_.req_cons < slots) return false;
  std::size_t off = 0;
  bool first = true;
  while (off < frame.size()) {
    netif_rx_request_t req;
    RING_COPY_REQUEST(&rx_, rx_.req_cons++, &req);
    const auto n = uint16_t(std::min(kPageSize, frame.size() - off));
    if (!raw_write_page(GrantRef{req.gref}, 0, frame.subspan(off, n))) return false;
    netif_rx_response_t* rsp = RING_GET_RESPONSE(&rx_, rx_.rsp_prod_pvt++);
    rsp->id = req.id;
    rsp->offset = 0;
    rsp->status = int16_t(n);
    off += n;
    rsp->flags = uint16_t((first ? flags : 0) | (off < frame.size() ? NETRXF_more_data : 0) |
                          (first && gso_type ? NETRXF_extra_info : 0));
    if (first && gso_type) {  // the extra-info slot uses the next request's slot
      netif_rx_request_t unused;
      RING_COPY_REQUEST(&rx_, rx_.req_cons++, &unused);
      netif_extra_info_t e{};
      e.type = XEN_NETIF_EXTRA_TYPE_GSO;
      e.u.gso.size = gso_size;
      e.u.gso.type = gso_type;
      std::memcpy(RING_GET_RESPONSE(&rx_, rx_.rsp_prod_pvt++), &e, sizeof e);
    }
    first = false;
  }
  int notify = 0;
  RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&rx_, notify);
  if (notify) raw_notify();
  ++rx_frames;
  return true;
}

std::optional<SimBackendFrame> SimNetback::receive() {
  if (received_.empty()) return std::nullopt;
  auto f = std::move(received_.front());
  received_.pop_front();
  return f;
}

}  // namespace xfw::xen::sim
