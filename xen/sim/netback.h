// xen/sim/netback.h — a simulated sys-net backend that behaves like Linux's xen-netback, for
// testing xfwd's netfront (the mirror of sim/netfront.h).
//
// Handshake (drivers/net/xen-netback/xenbus.c): writes feature-sg, feature-rx-copy,
// feature-gso-tcpv4/v6 and state=InitWait; on frontend Connected maps both rings, binds the
// event channel and goes Connected; frontend Closing -> Closing, Closed -> Closed, and
// Initialising after Closed -> InitWait again ("prepare for reconnect").
// Data: frames the frontend sends are grant-copied out of its pages, one response per slot
// (NETIF_RSP_NULL for an extra-info slot), NETIF_RSP_ERROR for a bad chain; send() grant-copies
// a frame into the frontend's posted buffers (with a GSO extra-info slot for a super-frame).
// Notifies only when the frontend's event index asks for it.
// Hostile mode: `auto_tx = false` leaves the tx ring unanswered; the raw_* calls give the
// rings, the frontend's grants and the event channel, for writing any response at all.
#pragma once

#include <xen/io/netif.h>

#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "xen/sim/hypervisor.h"

namespace xfw::xen::sim {

struct SimNetbackOptions {
  bool sg = true, gso4 = true, gso6 = true, rx_copy = true;  // what it offers
  bool auto_tx = true;  // answer and collect the frontend's frames in step()
};

struct SimBackendFrame {
  std::vector<std::byte> bytes;
  uint16_t flags = 0;  // the first slot's NETTXF_*
  uint16_t gso_size = 0;
  uint8_t gso_type = 0;
};

class SimNetback {
 public:
  SimNetback(SimHypervisor& hv, DomId self, DomId frontend, uint32_t devid,
             SimNetbackOptions opt = {});
  ~SimNetback();
  SimNetback(const SimNetback&) = delete;
  SimNetback& operator=(const SimNetback&) = delete;

  bool step();  // reacts to XenStore and the event channel; true if it did anything
  [[nodiscard]] bool connected() const { return state_ == 4; }
  [[nodiscard]] int state() const { return state_; }
  void close();  // the backend goes Closing (as on unbind), then Closed

  // A frame to the frontend; false if it has not posted enough buffers. `flags`: NETRXF_*.
  bool send(std::span<const std::byte> frame, uint16_t flags = 0, uint16_t gso_size = 0,
            uint8_t gso_type = 0);
  std::optional<SimBackendFrame> receive();  // next frame the frontend sent

  uint64_t tx_ok = 0, tx_error = 0, rx_frames = 0, notifies_sent = 0, events_received = 0;

  // --- raw access for hostile-backend tests ---
  netif_tx_back_ring_t& raw_tx() { return tx_; }
  netif_rx_back_ring_t& raw_rx() { return rx_; }
  std::byte* raw_tx_page() { return tx_map_ ? tx_map_->data() : nullptr; }
  std::byte* raw_rx_page() { return rx_map_ ? rx_map_->data() : nullptr; }
  // Copies bytes into the frontend page `ref` (one of its rx buffers); false if Xen refuses.
  bool raw_write_page(GrantRef ref, uint16_t offset, std::span<const std::byte> bytes);
  // Maps one of the frontend's grants and keeps the mapping (a backend that does not let go).
  bool raw_hold_mapping(GrantRef ref);
  void raw_release_mappings() { held_.clear(); }
  void raw_notify();
  [[nodiscard]] int evt_fd() const { return evt_.fd(); }
  SimXenStore& xs() { return xs_; }
  SimGrantTable& gnt() { return gnt_; }
  [[nodiscard]] const std::string& dir() const { return dir_; }
  [[nodiscard]] const std::string& frontend_dir() const { return fe_dir_; }
  void write_key(const std::string& key, const std::string& value);

 private:
  void connect();
  void disconnect();
  void collect_tx();
  void set_state(int s);
  std::optional<int> frontend_state();

  SimHypervisor& hv_;
  DomId self_, frontend_;
  SimNetbackOptions opt_;
  std::string dir_, fe_dir_;
  SimXenStore xs_;
  SimGrantTable gnt_;
  SimEventChannels evt_;
  int state_ = 1;
  std::unique_ptr<GrantMapping> tx_map_, rx_map_;
  std::vector<std::unique_ptr<GrantMapping>> held_;
  std::optional<EvtchnPort> port_;
  netif_tx_back_ring_t tx_{};
  netif_rx_back_ring_t rx_{};
  std::deque<SimBackendFrame> received_;
};

}  // namespace xfw::xen::sim
