// netfront/link.h — the data path of xfwd's uplink toward sys-net's backend: two rings, the
// pages granted for them, one event channel, counters. The mirror of netback/vif.h.
//
// A Link exists only while the handshake (netfront.h) wants one: creating it grants two ring
// pages, 256 transmit pages (read-only to the backend) and 256 receive pages (writable by it),
// allocates an unbound event channel and posts every receive buffer; destroying it ends the
// grants (a page the backend still maps is kept, never reused: item 9) and closes the port.
//   to the backend (tx): send() copies the frame into free pages of ours (the page holds the
//                        frame and zeros, nothing else: item 8), queues the requests; flush()
//                        publishes them and notifies if the backend asked;
//   from the backend (rx): service() reads rsp_prod once, copies each response once, validates
//                        it, copies the data out of the page before anything parses it (item 7),
//                        re-posts the buffer and hands whole frames to the caller.
// Everything the backend writes is a claim: a violation of the ring protocol sets fatal() and
// the owner resets the uplink; a bad frame is dropped and counted. Nothing here allocates per
// frame, blocks, or throws on backend input.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "netfront/drop_reason.h"
#include "netfront/ring.h"
#include "xen/evtchn.h"
#include "xen/gntshr.h"
#include "xen/kick_backoff.h"

namespace xfw::netfront {

using Clock = xen::CoarseClock;  // see xen/clock.h
using TimePoint = Clock::time_point;

inline constexpr uint32_t kMaxSlots = 18;                 // slots of one frame (XEN_NETIF_NR_SLOTS_MIN)
inline constexpr uint32_t kMaxFrame = 65535 + 14;         // a GSO super-frame and its Ethernet header
inline constexpr uint8_t kGsoTcpV4 = 1, kGsoTcpV6 = 2;    // XEN_NETIF_GSO_TYPE_TCPV4, _TCPV6

struct Limits {
  uint32_t rx_budget = 64;  // frames per pass
  // Transmit requests unanswered this long: the backend is stalled (frames are dropped as
  // tx_ring_full once the ring is full; status shows it).
  std::chrono::milliseconds tx_stall_timeout{5'000};
  bool rx_gso = true;  // offer feature-gso-tcpv4/v6: take TCP super-frames from the backend
};

// What the backend offered in XenStore (and we use): multi-slot and GSO transmit requests.
struct BackendFeatures {
  bool sg = false, gso4 = false, gso6 = false;
};

struct Counters {
  uint64_t tx_frames = 0, tx_bytes = 0, tx_gso = 0;
  uint64_t rx_frames = 0, rx_bytes = 0, rx_gso = 0;
  uint64_t events = 0, spurious_events = 0, notifications = 0;
  DropCounters drops{};
};

// A frame whose TCP/UDP checksum is partial (the pseudo-header sum, as Linux's
// CHECKSUM_PARTIAL): the backend or the NIC finishes it. gso_size > 0: a TCP super-frame the
// backend cuts into segments of that many payload bytes.
struct TxOffload {
  uint16_t gso_size = 0;
  bool v6 = false;
};

// A frame from the backend, copied out of the shared pages (item 7) into a buffer of the
// link's own: the receiver may rewrite it in place; valid during the callback only.
// csum_blank / data_validated / gso are the backend's claims (NETRXF_*), for the pipeline to
// use as such.
struct RxFrame {
  std::span<std::byte> bytes;
  bool csum_blank = false, data_validated = false;
  uint16_t gso_size = 0;
  uint8_t gso_type = 0;
};
using RxHandler = std::function<void(const RxFrame&)>;

class Link {
 public:
  struct Deps {
    xen::GrantShare& share;
    xen::EventChannels& evt;
  };
  // Grants the pages, allocates the port and posts every receive buffer; nullptr and `why` on
  // failure (nothing is left granted).
  static std::unique_ptr<Link> create(Deps deps, xen::DomId backend, const BackendFeatures& f,
                                      const Limits& limits, std::string* why);
  ~Link();
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  // What the handshake writes to XenStore.
  [[nodiscard]] xen::GrantRef tx_ring_ref() const { return ring_pages_->ref(0); }
  [[nodiscard]] xen::GrantRef rx_ring_ref() const { return ring_pages_->ref(1); }
  [[nodiscard]] xen::EvtchnPort port() const { return port_; }

  // Frames are sent only once the backend is Connected (before, send() drops as tx_down).
  void set_ready(bool ready) { ready_ = ready; }
  [[nodiscard]] bool ready() const { return ready_ && !fatal_; }

  // Queues a frame (copied); false = dropped and counted. Published by flush() (or by send()
  // itself once half a ring is waiting).
  bool send(std::span<const std::byte> frame, std::optional<TxOffload> offload = std::nullopt);
  void flush();
  [[nodiscard]] bool takes_gso(bool v6) const { return f_.sg && (v6 ? f_.gso6 : f_.gso4); }
  [[nodiscard]] uint32_t max_frame() const { return f_.sg ? 65535 : uint32_t(xen::kPageSize); }

  enum class Pass { idle, more_work };
  // One bounded pass: transmit responses, then up to rx_budget frames. `kicked`: the event
  // channel fired. Unmasks the port once no work is left (with the storm back-off).
  Pass service(const RxHandler& rx, TimePoint now, bool kicked);

  [[nodiscard]] std::optional<DropReason> fatal() const { return fatal_; }
  [[nodiscard]] std::optional<TimePoint> wake_at() const { return kicks_.unmask_at(); }
  [[nodiscard]] bool tx_stalled(TimePoint now) const {
    return tx_outstanding() > 0 && now - tx_progress_ > limits_.tx_stall_timeout;
  }
  [[nodiscard]] uint32_t tx_outstanding() const { return tx_prod_ - tx_cons_; }
  [[nodiscard]] const Counters& counters() const { return c_; }
  [[nodiscard]] const BackendFeatures& features() const { return f_; }

 private:
  Link(Deps deps, const BackendFeatures& f, const Limits& limits);
  void drop(DropReason r) { ++c_.drops[std::size_t(r)]; }
  void fail(DropReason r) {
    if (!fatal_) drop(r), fatal_ = r;
  }
  // tx.cc / rx.cc: each adds what it handled to `handled` and returns true if work is left.
  bool tx_collect(TimePoint now, uint32_t& handled);
  // Room for a frame of `slots` pages (and its GSO extra-info slot) in the pages and the ring.
  [[nodiscard]] bool has_room(uint32_t slots, bool gso) const {
    return tx_free_.size() >= slots && kRingSize - tx_outstanding() >= slots + (gso ? 1 : 0);
  }
  bool rx_pass(const RxHandler& rx, uint32_t& handled, bool& notify);
  void rx_end_frame(const RxHandler& rx);

  Deps deps_;
  BackendFeatures f_;
  Limits limits_;
  std::unique_ptr<xen::SharedPages> ring_pages_;  // 0: tx ring, 1: rx ring
  std::unique_ptr<xen::SharedPages> tx_pages_, rx_pages_;  // one per id
  xen::EvtchnPort port_{0};
  bool bound_ = false, ready_ = false, masked_ = false;
  TxRing tx_;
  RxRing rx_;
  std::optional<DropReason> fatal_;
  Counters c_;
  xen::KickBackoff kicks_;

  // tx: our private indices; ids free, in flight; how much of each page the last frame used
  uint32_t tx_prod_ = 0, tx_published_ = 0, tx_cons_ = 0;
  std::vector<uint16_t> tx_free_;
  std::vector<bool> tx_in_flight_;
  std::vector<uint16_t> tx_used_;
  uint32_t tx_extras_ = 0;  // extra-info slots queued, each answered by a NETIF_RSP_NULL
  TimePoint tx_progress_{};

  // rx: buffer `i & 255` is always posted at ring index i, with id i & 255
  uint32_t rx_prod_ = 0, rx_published_ = 0, rx_cons_ = 0;
  struct Assembly {
    bool active = false;      // inside a frame
    bool more = false;        // its last data slot said NETRXF_more_data
    bool extra_next = false;  // the next slot is an extra-info slot
    uint32_t slots = 0, extras = 0, len = 0;
    std::optional<DropReason> bad;
    RxFrame meta;
  } as_;
  // A pass's frames, one after another (item 7: copied out of the shared pages): each stays
  // here, unchanged by us, until the pass ends, so that the receiver may hand it on by
  // reference until then (netback's held copies). A frame left unfinished at the end of a pass
  // moves to the front at the next.
  static constexpr std::size_t kArenaBytes = 8 * kMaxFrame;
  std::unique_ptr<std::byte[]> arena_{new std::byte[kArenaBytes]};
  std::size_t frame_at_ = 0;  // where the frame being assembled starts
};

}  // namespace xfw::netfront
