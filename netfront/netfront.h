// netfront/netfront.h — xfwd's own netfront: the uplink toward sys-net, with no kernel network
// driver in sys-firewall facing another domain (NETFRONT-HARDENING.md).
//
// The toolstack writes our vif's frontend directory, /local/domain/<self>/device/vif/<n>
// (backend, backend-id, mac, handle, state=1). Netfront watches that directory and the
// backend's state node; watch events only mark it dirty, and reconcile() (idempotent, like
// netback/device.cc) moves toward what both ends' states imply:
//   backend InitWait (or Connected for a link we have not made) -> read its features, make a
//       Link (grants, port, rx buffers), write our keys and state=Connected in one transaction
//   backend Connected                  -> frames flow
//   backend Closing / Closed / gone    -> tear the link down, state=Closed; once the backend
//       is Closed and still online, state=Initialising: it goes back to InitWait (Linux's
//       "prepare for reconnect") and we connect again
//   a new backend (sys-net restarted: our dir removed and written again, or backend changed)
//       -> start over with it
//   the link breaks the ring protocol (fatal) -> torn down, state=Closing, the same way back
//       after a back-off (1 s, doubling to 30 s while it keeps happening)
// The AppVMs' vifs (netback) are not touched by any of this; frames sent meanwhile are dropped
// and counted (tx_down).
// It has its own XenStore connection and event-channel handle (apart from netback's), so each
// fd has one reader:
//   Netfront nf(xs, share, evt, {}); nf.start(&err);
//   on xs.watch_fd() readable: nf.on_xenstore(now)
//   on evt.fd() readable: nf.on_events(now); while (nf.poll(now)) {}
//   at nf.next_deadline(): if (nf.on_timer(now)) while (nf.poll(now)) {}
//   (a daemon runs each poll() pass in its own turn of its loop, so the other fds get theirs)
//   nf.send(frame, offload); nf.flush();
// Single-threaded; nothing here blocks or throws on backend input.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "netfront/link.h"
#include "packet/addr.h"
#include "xen/parse.h"
#include "xen/xenstore.h"

namespace xfw::netfront {

enum class LogLevel { debug, info, warn, error };

struct NetfrontConfig {
  std::optional<uint32_t> devid;  // which vif under device/vif (default: the lowest there)
  Limits limits;
  std::chrono::milliseconds reset_backoff{1'000};  // after a fatal reset; doubles up to 30 s
  std::function<void(LogLevel, const std::string&)> log;  // optional
};

struct NetfrontStatus {
  std::string dir;       // our frontend directory, "" if there is no vif
  std::string backend;   // the backend directory it names
  xen::DomId backend_id{0};
  xen::XenbusState state = xen::XenbusState::unknown;          // ours, as written
  xen::XenbusState backend_state = xen::XenbusState::unknown;  // as last read
  bool connected = false, tx_stalled = false;
  BackendFeatures features;
  uint64_t connects = 0, resets = 0;
  std::optional<DropReason> last_reset;
  std::string refused;  // why the last connection attempt was refused
  Counters counters;    // over every link so far
};

class Netfront {
 public:
  Netfront(xen::XenStore& xs, xen::GrantShare& share, xen::EventChannels& evt,
           NetfrontConfig cfg);
  ~Netfront();
  Netfront(const Netfront&) = delete;
  Netfront& operator=(const Netfront&) = delete;

  // Learns our domid, watches device/vif and connects if a vif is there. false + `err` if
  // XenStore refuses, or if there is no vif and none was expected later (cfg.devid unset and
  // device/vif empty: "no vif under /local/domain/<self>/device/vif").
  [[nodiscard]] bool start(std::string* err);
  // The toolstack's MAC for our vif (read once, at start; a later vif keeps it).
  [[nodiscard]] const packet::MacAddr& mac() const { return mac_; }

  // Drains the watch events; true if there were any.
  bool on_xenstore(TimePoint now);
  void on_events(TimePoint now);
  bool poll(TimePoint now);  // one pass over the link; true if work is left
  bool on_timer(TimePoint now);  // true if a pass is due (a masked event channel's time is up)
  [[nodiscard]] std::optional<TimePoint> next_deadline() const;

  // Frames go to `rx`; `pass_end` runs after each pass, when they may be overwritten (until
  // then each stays where `rx` saw it, unchanged: Link's arena).
  void set_receiver(RxHandler rx, std::function<void()> pass_end = [] {}) {
    rx_ = std::move(rx);
    pass_end_ = std::move(pass_end);
  }
  bool send(std::span<const std::byte> frame, std::optional<TxOffload> offload = std::nullopt);
  void flush() {
    if (link_) link_->flush();
  }
  [[nodiscard]] bool connected() const { return link_ && link_->ready(); }
  [[nodiscard]] bool takes_gso(bool v6) const { return link_ && link_->takes_gso(v6); }
  [[nodiscard]] uint32_t max_frame() const { return link_ ? link_->max_frame() : 65535; }
  [[nodiscard]] NetfrontStatus status(TimePoint now) const;
  [[nodiscard]] const Link* link() const { return link_.get(); }
  [[nodiscard]] int event_fd() const { return evt_.fd(); }

 private:
  void reconcile(TimePoint now);
  bool pick_device();
  bool read_keys(std::string* why);
  bool connect(std::string* why);
  bool remove_foreign_keys(xen::XsTxn t);
  void teardown();
  void reset(TimePoint now);  // after a fatal link error
  void set_state(xen::XenbusState s);
  void log(LogLevel l, const std::string& m) const {
    if (cfg_.log) cfg_.log(l, m);
  }
  std::optional<std::string> read(const std::string& path) { return xs_.read(xen::kNoTxn, path); }

  xen::XenStore& xs_;
  xen::GrantShare& share_;
  xen::EventChannels& evt_;
  NetfrontConfig cfg_;
  RxHandler rx_ = [](const RxFrame&) {};
  std::function<void()> pass_end_ = [] {};
  xen::DomId self_{0};
  std::string root_;  // /local/domain/<self>/device/vif
  std::optional<uint32_t> devid_;
  std::string fe_, be_;  // our dir, the backend's
  std::string be_watched_;
  xen::DomId be_id_{0};
  packet::MacAddr mac_;
  bool have_mac_ = false;
  xen::XenbusState written_ = xen::XenbusState::unknown;
  xen::XenbusState be_state_ = xen::XenbusState::unknown;
  std::unique_ptr<Link> link_;
  bool kicked_ = false;
  Counters past_;  // links that are gone
  uint64_t connects_ = 0, resets_ = 0;
  std::optional<DropReason> last_reset_;
  std::string refused_;
  std::optional<TimePoint> hold_until_;  // no reconnect before (back-off after a reset)
  std::chrono::milliseconds backoff_{0};
  std::optional<TimePoint> healthy_since_;
};

}  // namespace xfw::netfront
