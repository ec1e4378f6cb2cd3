// netback/netback.h — the vif backend: attaches to every vif of every guest automatically.
//
// Netback watches /local/domain/<self>/backend/vif (one watch) and, per device, the
// frontend's state node (one watch each). Watch events only mark devices dirty; each dirty
// device is reconciled once per on_xenstore() call (coalescing, item 20) by the handshake in
// device.cc. Event-channel kicks and queued frames make vifs "active"; poll() gives each
// active vif one bounded pass (fairness, item 13) until none has work left.
//
// Driving it (the daemon does this from an event loop; tests call it directly):
//   Netback nb(xs, gnt, evt, sink, {});
//   if (!nb.start(&err)) ...;
//   on xs.watch_fd() readable:  nb.on_xenstore(now);
//   on evt.fd() readable:       nb.on_events(now);
//   while (nb.poll(now)) {}     // or re-post to the loop to stay fair to other fds
//   at nb.next_deadline():      nb.on_timer(now);
// Single-threaded. No function here blocks, allocates per packet, or throws on guest input.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "netback/frames.h"
#include "netback/vif.h"
#include "xen/evtchn.h"
#include "xen/grant.h"
#include "xen/xenstore.h"

namespace xfw::netback {

class Device;

enum class LogLevel { debug, info, warn, error };

struct NetbackConfig {
  VifLimits limits;
  bool write_hotplug_status = true;  // write hotplug-status=connected (what vif scripts do)
  std::function<void(LogLevel, const std::string&)> log;  // optional
};

// A snapshot of one device for status displays.
struct DeviceStatus {
  xen::DomId domid;
  uint32_t devid = 0;
  std::string name;
  std::string mac;
  std::vector<std::string> ips;
  xen::XenbusState backend_state = xen::XenbusState::unknown;
  bool connected = false;
  bool rx_stalled = false;
  bool guest_sg = false, guest_gso4 = false, guest_gso6 = false;  // what its frontend takes
  std::optional<DropReason> disconnect_reason;
  std::string refused;  // why connecting was refused, if it was
  VifCounters counters;
};

class Netback {
 public:
  Netback(xen::XenStore& xs, xen::GrantTable& gnt, xen::EventChannels& evt, FrameSink& sink,
          NetbackConfig cfg);
  ~Netback();
  Netback(const Netback&) = delete;
  Netback& operator=(const Netback&) = delete;

  // Learns our domid and registers the backend watch. false + `err` if XenStore refuses.
  [[nodiscard]] bool start(std::string* err);

  void on_xenstore(TimePoint now);
  void on_events(TimePoint now);
  // One pass over every active vif; true if some vif still has work.
  bool poll(TimePoint now);
  void on_timer(TimePoint now);
  [[nodiscard]] std::optional<TimePoint> next_deadline() const;

  // Queues a frame for a guest, or grant-copies it at once (a super-frame, nothing queued before
  // it, its buffers posted: Vif::rx_now); false if dropped (unknown/stale vif, queue full...).
  // A `gso` super-frame only for a vif that takes_gso() of its type.
  // With `held`, the caller keeps `frame` where it is, unchanged, until flush_held(): a
  // super-frame's copy is then made there, in one call with the other held frames'.
  bool to_guest(VifId vif, std::span<const std::byte> frame, Gso gso = {}, bool held = false);
  // Copies the held frames into their guests' buffers and answers their requests (one grant
  // copy). Also done first by every entry point that runs passes or tears vifs down.
  void flush_held();
  [[nodiscard]] bool takes_gso(VifId vif, uint8_t type) const;

  [[nodiscard]] std::vector<DeviceStatus> devices() const;
  [[nodiscard]] std::size_t connected_vifs() const;
  [[nodiscard]] bool has_work() const { return !active_.empty(); }
  [[nodiscard]] const std::string& backend_root() const { return root_; }

 private:
  friend class Device;
  struct Slot {
    Device* dev = nullptr;
    uint32_t gen = 0;
  };
  // Called by Device when its Vif comes and goes.
  VifId attach(Device& d);
  void detach(Device& d, VifId id);
  void activate(Vif& v);
  void log(LogLevel l, const std::string& msg) const {
    if (cfg_.log) cfg_.log(l, msg);
  }
  void mark_from_path(const std::string& path);
  void rescan();
  void reconcile_dirty(TimePoint now);  // every device marked dirty, once
  Vif* vif_of(VifId id) const;

  xen::XenStore& xs_;
  xen::GrantTable& gnt_;
  xen::EventChannels& evt_;
  FrameSink& sink_;
  NetbackConfig cfg_;
  xen::DomId self_{0};
  std::string root_;  // /local/domain/<self>/backend/vif
  TxScratch scratch_;
  HeldRx held_;

  std::map<std::pair<uint16_t, uint32_t>, std::unique_ptr<Device>> devices_;
  std::vector<std::pair<uint16_t, uint32_t>> dirty_;
  bool rescan_ = false;
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_slots_;
  std::unordered_map<uint32_t, Vif*> by_port_;
  std::vector<Vif*> active_;  // vifs with work; a vif appears at most once
  std::vector<Vif*> active_next_;
};

}  // namespace xfw::netback
