// netback/device.h — the xenbus handshake of one vif device (NETBACK-HARDENING.md, "XenStore
// handshake"), driven by reconcile() whenever a watch marks the device dirty.
//
// reconcile() reads the current state of both ends and moves towards what it implies; it is
// idempotent, so duplicate or coalesced watch events are harmless:
//   backend dir appears          -> validate toolstack keys, write features, InitWait
//   frontend Initialised/Connected -> validate frontend keys, map rings, bind evtchn, Connected
//   frontend Closing             -> tear down, Closing
//   frontend Closed / gone       -> tear down, Closed; when online=0, remove the backend
//                                   directory (a driver domain's duty) kRemoveGrace later and
//                                   forget the device
//   frontend back to Initialising -> tear down, InitWait again
//   toolstack writes state=5     -> tear down, Closed
//   backend dir removed          -> tear down, forget
//   both ends already Connected when first seen (xfwd restarted) -> resume the live rings
// Anything invalid refuses the connection (state Closing) with a logged reason; only this
// device is affected.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "netback/frames.h"
#include "netback/vif.h"
#include "xen/parse.h"

namespace xfw::netback {

class Netback;

class Device {
 public:
  Device(Netback& nb, xen::DomId fe_domid, uint32_t devid);
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  void reconcile(TimePoint now);
  // Tears down the data path after a fatal ring error; the guest sees Closing.
  void disconnect_fatal();

  [[nodiscard]] bool gone() const { return phase_ == Phase::gone; }
  [[nodiscard]] Vif* vif() const { return vif_.get(); }
  [[nodiscard]] const VifInfo& info() const { return info_; }
  [[nodiscard]] xen::XenbusState written_state() const { return written_; }
  [[nodiscard]] std::optional<DropReason> disconnect_reason() const { return fatal_; }
  [[nodiscard]] const std::string& refused() const { return refused_; }
  [[nodiscard]] const VifCounters& last_counters() const { return last_counters_; }
  // When the backend directory of a removed device is due to go (Netback::on_timer).
  [[nodiscard]] std::optional<TimePoint> remove_at() const { return remove_at_; }

  // libxl writes online=0 and state=Closing, then waits for state Closed, then (the backend in
  // a driver domain) for the directory to be removed. Removed at once, the directory can be
  // gone before libxl reads the state it waits for: it then fails the removal ("wanted state
  // 6 but it was removed"; libxl__devices_destroy failed). So Closed stays readable this long.
  static constexpr std::chrono::milliseconds kRemoveGrace{1000};

 private:
  enum class Phase { fresh, init_wait, connected, closing, closed, gone };

  bool read_backend_keys(std::string* why);
  bool advertise_features();
  bool connect(std::string* why);
  void connect_and_announce(const char* what);  // connect, Connected, tell the sink
  void teardown();
  void set_state(xen::XenbusState s);
  void refuse(const std::string& why);
  std::optional<std::string> read(const std::string& path);

  Netback& nb_;
  std::string be_;  // our backend directory
  std::string fe_;  // the frontend directory the toolstack must have named
  VifInfo info_;
  std::optional<xen::Rate> rate_;
  Phase phase_ = Phase::fresh;
  xen::XenbusState written_ = xen::XenbusState::unknown;
  bool fe_watched_ = false;
  std::unique_ptr<Vif> vif_;
  std::optional<DropReason> fatal_;
  std::string refused_;
  VifCounters last_counters_;  // counters of the last connection, kept after teardown
  std::optional<TimePoint> remove_at_;
};

}  // namespace xfw::netback
