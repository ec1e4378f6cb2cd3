// netback/vif.h — the data path of one connected vif: its two rings, its event channel,
// its receive queue, credit and counters.
//
// A Vif exists only while connected: constructing one maps both ring pages and binds the event
// channel; destroying it unbinds and unmaps (teardown owned by one context, item 16). Each call
// to service() does one bounded pass over both rings:
//   from guest (tx ring): copy requests once, validate, one batched grant copy into local
//                         memory, answer every slot, hand good frames to the FrameSink;
//   to guest (rx ring):   take posted buffers, grant-copy queued frames into them.
// A ring-protocol violation sets fatal(): the owner (Netback) then disconnects this vif only.
// Frontend-chosen ids are echoed, never used as indexes into backend state (item 11).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "netback/drop_reason.h"
#include "netback/frames.h"
#include "netback/ring.h"
#include "netback/rx_queue.h"
#include "xen/evtchn.h"
#include "xen/grant.h"
#include "xen/kick_backoff.h"
#include "xen/parse.h"

namespace xfw::netback {

using Clock = xen::CoarseClock;  // see xen/clock.h
using TimePoint = Clock::time_point;

struct VifLimits {
  // What waits for a guest's buffers: as Linux netback's rx queue (XENVIF_RX_QUEUE_BYTES, half a
  // ring of pages), eight TCP super-frames. At 128 KiB (two) a guest a little slower than its
  // sender lost super-frames, and TCP towards it backed off (lab, 2026-12-03).
  uint32_t rx_queue_bytes = 512 * 1024;
  std::chrono::milliseconds rx_stall_timeout{10'000};
  uint32_t tx_budget = 64;  // packets per pass
  uint32_t rx_budget = 64;  // frames per pass
  // Frames of this many bytes or more go to the guest at once when they can (rx_now): one grant
  // copy per frame instead of the queue's memcpy and a batched copy later. Super-frames only by
  // default: for a small frame the memcpy is cheaper than a hypercall of its own.
  uint32_t rx_now_min = 4096;
  bool gso = true;  // offer feature-gso-tcpv4/v6: take TCP super-frames from the guest
};

// What the handshake learned and validated; everything a Vif needs to connect.
struct VifConnectParams {
  xen::DomId domid;
  xen::GrantRef tx_ring_ref;
  xen::GrantRef rx_ring_ref;
  xen::EvtchnPort remote_port;
  bool guest_rx_sg = false;  // frontend's feature-sg: it accepts multi-slot frames
  // frontend's feature-gso-tcpv4/v6: it accepts TCP super-frames with a GSO extra-info slot
  bool guest_rx_gso4 = false, guest_rx_gso6 = false;
  std::optional<xen::Rate> rate;
};

struct VifCounters {
  uint64_t from_guest_packets = 0, from_guest_bytes = 0;
  uint64_t to_guest_packets = 0, to_guest_bytes = 0;
  uint64_t events = 0, spurious_events = 0, notifications = 0;
  DropCounters drops{};
};

// Scratch memory shared by all vifs of one Netback (service() runs one vif at a time).
struct TxScratch {
  static constexpr std::size_t kBytes = 256 * 1024;  // > 65535: one maximal packet always fits
  static constexpr std::size_t kMaxOps = 2 * kRingSize;
  std::unique_ptr<std::byte[]> bytes{new std::byte[kBytes]};
  std::vector<xen::GrantCopy> ops = std::vector<xen::GrantCopy>(kMaxOps);
};

// One frame's buffers on a guest's rx ring, taken for a copy (rx.cc).
struct RxFrame {
  uint32_t cons;    // ring index of its first buffer
  uint32_t nslots;  // data slots, and the extra-info slot of a GSO frame
  uint32_t op_begin;
  uint32_t len;
  Gso gso;
};

class Vif;

// Super-frames whose memory the caller keeps, unchanged, until Netback::flush_held(): their
// buffers are taken from the guests' rings at once, and one grant copy at the flush fills all
// of them (the uplink holds a pass's frames so: one copy per pass instead of one per frame).
struct HeldRx {
  static constexpr uint32_t kMaxOps = 2 * kRingSize;
  static constexpr uint32_t kMaxFrameOps = (65535 + xen::kPageSize - 1) / xen::kPageSize;  // the largest frame's pages
  struct Frame {
    Vif* vif;
    RxFrame rx;
    uint32_t id_begin;  // its request ids in `ids`
  };
  std::vector<xen::GrantCopy> ops = std::vector<xen::GrantCopy>(kMaxOps);
  std::vector<Frame> frames = std::vector<Frame>(kMaxOps);
  std::vector<uint16_t> ids = std::vector<uint16_t>(2 * kMaxOps);
  uint32_t nops = 0, nframes = 0, nids = 0;
  [[nodiscard]] bool full() const { return nops + kMaxFrameOps > kMaxOps; }
};

class Vif {
 public:
  struct Deps {
    xen::GrantTable& gnt;
    xen::EventChannels& evt;
  };
  // Maps the rings and binds the event channel; nullptr (and `why`) on failure.
  static std::unique_ptr<Vif> connect(Deps deps, VifId id, const VifConnectParams& p,
                                      const VifLimits& limits, std::string* why);
  ~Vif();
  Vif(const Vif&) = delete;
  Vif& operator=(const Vif&) = delete;

  enum class Pass { idle, more_work };
  // One bounded pass over both rings. `kicked`: the event channel fired (for spurious-kick
  // accounting). Unmasks the event channel when no work is left.
  Pass service(FrameSink& sink, TxScratch& scratch, TimePoint now, bool kicked);

  // Queues a frame for the guest (copied), or sends it at once (rx_now), or, with `held` (the
  // caller keeps the frame until Netback::flush_held()), takes its buffers for the held copy
  // (rx_hold). false = dropped and counted. A `gso` frame goes with an extra-info slot (only for
  // a guest that offered that GSO type).
  bool queue_to_guest(std::span<const std::byte> frame, Gso gso, TxScratch& scratch, HeldRx* held);
  // Netback::flush_held(), after the copy: answers a held frame's requests.
  void rx_held_done(const HeldRx::Frame& hf, const HeldRx& h);
  // Does the guest take TCP super-frames of this GSO type?
  [[nodiscard]] bool takes_gso(uint8_t type) const;

  [[nodiscard]] std::optional<DropReason> fatal() const { return fatal_; }
  [[nodiscard]] std::optional<TimePoint> wake_at() const;
  [[nodiscard]] const VifCounters& counters() const { return c_; }
  [[nodiscard]] xen::EvtchnPort port() const { return port_; }
  [[nodiscard]] VifId id() const { return id_; }
  [[nodiscard]] bool rx_stalled() const { return rx_stalled_; }
  [[nodiscard]] const VifConnectParams& params() const { return params_; }
  [[nodiscard]] uint32_t rx_queued() const { return rxq_.frames(); }

  // Scheduling marks owned by Netback: in its active list? kicked since the last pass?
  struct Sched {
    bool queued = false;
    bool kicked = false;
  } sched;

 private:
  Vif(Deps deps, VifId id, const VifConnectParams& p, const VifLimits& limits);
  void drop(DropReason r) { ++c_.drops[std::size_t(r)]; }
  void fail(DropReason r);

  // tx.cc: from guest; rx.cc: to guest. Each adds what it handled (packets dropped or
  // delivered) to `handled`, sets `notify` if the guest wants an event, and returns true if
  // work is left for another pass.
  bool tx_pass(FrameSink& sink, TxScratch& scratch, TimePoint now, uint32_t& handled,
               bool& notify);
  bool tx_credit_allows(uint32_t bytes, TimePoint now);
  bool rx_pass(TxScratch& scratch, TimePoint now, uint32_t& handled, bool& notify);
  bool rx_now(std::span<const std::byte> frame, Gso gso, TxScratch& scratch);
  bool rx_hold(std::span<const std::byte> frame, Gso gso, HeldRx& h);
  template <class At>
  uint32_t rx_fill(TxScratch& scratch, uint32_t prod, uint32_t max, At at, bool& notify);
  bool rx_take(uint32_t posted, uint32_t& cons, std::span<const std::byte> data, Gso gso,
               xen::GrantCopy* ops, uint32_t& nops, uint16_t* ids, RxFrame& fr);
  void rx_answer(const RxFrame& fr, const xen::GrantCopy* ops, const uint16_t* ids);

  Deps deps_;
  VifId id_;
  VifConnectParams params_;
  VifLimits limits_;
  std::unique_ptr<xen::GrantMapping> tx_map_, rx_map_;
  xen::EvtchnPort port_{0};
  bool bound_ = false;
  TxRing tx_;
  RxRing rx_;
  uint32_t tx_cons_ = 0, tx_rsp_ = 0;  // our private indices (never read back from the page)
  uint32_t rx_cons_ = 0;
  // Buffers after rx_cons_ taken by held frames, answered at Netback::flush_held() (which
  // Netback runs before any pass of ours: rx_cons_ is where a pass starts).
  uint32_t rx_held_ = 0;
  RxQueue rxq_;
  std::optional<DropReason> fatal_;
  VifCounters c_;

  // credit (backend key `rate`)
  uint64_t credit_left_ = 0;
  TimePoint credit_window_end_{};
  std::optional<TimePoint> credit_wait_;
  // receive stall
  std::optional<TimePoint> rx_waiting_since_;
  bool rx_stalled_ = false;
  xen::KickBackoff kicks_;  // spurious-kick back-off (XSA-332)
  bool masked_ = true;  // a fired port stays masked until we unmask it
  // The guest wants an event for responses already pushed (by rx_now, or by a pass whose event
  // was put off), and how many slots were answered since its last event.
  bool notify_pending_ = false;
  uint32_t unnotified_ = 0;
};

}  // namespace xfw::netback
