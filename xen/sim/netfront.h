// xen/sim/netfront.h — a simulated guest netfront that behaves like Linux's xen-netfront.
//
// Handshake: when the backend reaches InitWait it allocates and grants both ring pages,
// allocates an unbound event channel, writes tx-ring-ref, rx-ring-ref, event-channel,
// request-rx-copy=1, feature-rx-notify=1, feature-sg, feature-gso-* in one transaction and
// goes straight to Connected (skipping Initialised, as Linux does), then pre-posts every receive
// buffer. Backend Closing -> frontend Closed. close() and reinit() start a disconnect or a
// reconnect the way a guest does.
// Data: send() places a frame in granted pages (one slot per page-sized chunk, or as the caller
// splits it), with NETTXF_csum_blank|data_validated like a checksum-offloading guest (or with
// none: tx_csum_offload); poll()
// collects tx responses (freeing ids), receives frames (following NETRXF_more_data) and
// re-posts buffers, notifying only when the ring asks for it.
// Hostile tests get raw access to the ring pages, grants and event channel (the `raw_*` calls).
#pragma once

#include <netinet/in.h>
#include <xen/io/netif.h>

#include <array>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "xen/sim/hypervisor.h"

namespace xfw::xen::sim {

struct SimNetfrontOptions {
  bool sg = true;                 // feature-sg (accept multi-slot frames)
  bool rx_notify = true;          // feature-rx-notify
  bool request_rx_copy = true;
  uint32_t rx_buffers = 256;      // buffers posted (at most 256)
  bool auto_repost = true;        // re-post receive buffers after each frame
  bool rx_gso = true;             // feature-gso-tcpv4/v6: accept TCP super-frames (as Linux)
  // Frames go out with NETTXF_csum_blank|data_validated, as from a guest whose stack leaves
  // checksums to the device; false: their checksums are complete and the flags 0 (Linux
  // netfront for a CHECKSUM_NONE packet), as a TAP without offloads hands them over.
  bool tx_csum_offload = true;
};

class SimNetfront {
 public:
  SimNetfront(SimHypervisor& hv, DomId self, DomId backend, uint32_t devid,
              SimNetfrontOptions opt = {});
  ~SimNetfront();
  SimNetfront(const SimNetfront&) = delete;
  SimNetfront& operator=(const SimNetfront&) = delete;

  // Reacts to XenStore (backend state) and the event channel. True if it did anything.
  bool step();
  [[nodiscard]] bool connected() const { return state_ == 4; }
  [[nodiscard]] int state() const { return state_; }

  void close();   // Closing, then Closed once the backend follows
  void reinit();  // back to Initialising: the backend returns to InitWait, we reconnect

  // Sends a frame. `slots`: sizes of each slot (sum == frame size); empty = split at 4096.
  // False if the ring or the id pool is full.
  bool send(std::span<const std::byte> frame, std::span<const uint16_t> slots = {});
  std::optional<std::vector<std::byte>> receive();  // next received frame

  // Counters the tests look at.
  uint64_t tx_ok = 0, tx_error = 0, tx_null = 0, rx_frames = 0, rx_errors = 0;
  uint64_t notifies_sent = 0, events_received = 0;
  // GSO extra-info slots received (one per super-frame), and frames flagged csum_blank.
  std::vector<netif_extra_info_t> rx_gso_extras;
  uint64_t rx_csum_blank = 0;
  [[nodiscard]] uint32_t tx_in_flight() const { return uint32_t(kRing - free_ids_.size()); }

  // --- raw access for hostile-frontend tests ---
  netif_tx_sring* raw_tx() { return tx_sring_; }
  netif_rx_sring* raw_rx() { return rx_sring_; }
  // Grants one of our data pages to the backend; returns its ref and page.
  GrantRef raw_tx_page_ref(uint32_t i) const { return tx_refs_.at(i); }
  Page& raw_tx_page(uint32_t i) { return tx_pages_.at(i); }
  void raw_notify();
  SimXenStore& xs() { return xs_; }
  SimEventChannels& evt() { return evt_; }
  [[nodiscard]] const std::string& dir() const { return dir_; }
  // Writes the frontend keys (used by connect(); hostile tests call write_key to corrupt them).
  bool write_key(const std::string& key, const std::string& value);

 private:
  static constexpr uint32_t kRing = 256;
  void connect();
  void disconnect();
  void post_rx_buffers();
  void collect_tx();
  void collect_rx();
  std::optional<int> backend_state();

  SimHypervisor& hv_;
  DomId self_, backend_;
  uint32_t devid_;
  SimNetfrontOptions opt_;
  std::string dir_, be_dir_;
  SimXenStore xs_;
  SimEventChannels evt_;
  int state_ = 1;
  bool rings_up_ = false;

  Page tx_ring_page_, rx_ring_page_;
  netif_tx_sring* tx_sring_ = nullptr;
  netif_rx_sring* rx_sring_ = nullptr;
  GrantRef tx_ring_ref_, rx_ring_ref_;
  std::optional<EvtchnPort> port_;
  netif_tx_front_ring_t tx_{};
  netif_rx_front_ring_t rx_{};

  std::vector<Page> tx_pages_, rx_pages_;  // one page per ring slot id
  std::vector<GrantRef> tx_refs_, rx_refs_;
  std::vector<uint16_t> free_ids_;
  std::vector<std::byte> partial_;  // rx frame being reassembled
  bool partial_bad_ = false;
  bool in_frame_ = false, data_more_ = false;  // rx: inside a frame; its last data slot said more
  bool in_extra_ = false;  // the next rx slot is an extra-info slot
  std::array<uint16_t, 256> posted_id_{};  // rx request id by ring index (extra slots carry none)
  std::deque<std::vector<std::byte>> received_;
};

}  // namespace xfw::xen::sim
