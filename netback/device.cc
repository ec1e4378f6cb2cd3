#include "netback/device.h"

#include "netback/netback.h"

#include <algorithm>

namespace xfw::netback {

using xen::XenbusState;

Device::Device(Netback& nb, xen::DomId fe_domid, uint32_t devid) : nb_(nb) {
  info_.domid = fe_domid;
  info_.devid = devid;
  be_ = nb.root_ + "/" + std::to_string(fe_domid.value()) + "/" + std::to_string(devid);
  fe_ = "/local/domain/" + std::to_string(fe_domid.value()) + "/device/vif/" +
        std::to_string(devid);
}

Device::~Device() {
  teardown();
  if (fe_watched_) nb_.xs_.unwatch(fe_ + "/state", "fe");
}

std::optional<std::string> Device::read(const std::string& path) {
  return nb_.xs_.read(xen::kNoTxn, path);
}

void Device::set_state(XenbusState s) {
  if (!nb_.xs_.write(xen::kNoTxn, be_ + "/state", std::to_string(int(s)))) {
    nb_.log(LogLevel::warn, be_ + ": cannot write state");
  }
  written_ = s;
}

void Device::refuse(const std::string& why) {
  refused_ = why;
  nb_.log(LogLevel::warn, "vif " + std::to_string(info_.domid.value()) + "." +
                              std::to_string(info_.devid) + ": refusing to connect: " + why);
  teardown();
  set_state(XenbusState::closing);
  phase_ = Phase::closing;
}

// Keys the toolstack wrote in our backend directory (item 18: never from the frontend's).
bool Device::read_backend_keys(std::string* why) {
  const auto fe_id = read(be_ + "/frontend-id");
  const auto parsed = fe_id ? xen::parse_domid(*fe_id) : std::nullopt;
  if (!parsed || *parsed != info_.domid) return *why = "bad frontend-id", false;
  const auto fe = read(be_ + "/frontend");
  if (!fe || *fe != fe_) return *why = "frontend is not " + fe_, false;
  if (const auto h = read(be_ + "/handle")) {
    const auto handle = xen::parse_uint(*h, UINT32_MAX);
    if (!handle || *handle != info_.devid) return *why = "handle does not match the device", false;
  }
  const auto mac = read(be_ + "/mac");
  const auto m = mac ? packet::MacAddr::parse(*mac) : std::nullopt;
  if (!m) return *why = "bad or missing mac", false;
  info_.mac = *m;
  if (const auto ip = read(be_ + "/ip")) {
    const auto ips = xen::parse_ip_list(*ip);
    if (!ips) return *why = "bad ip list", false;
    info_.ips = *ips;
  }
  if (const auto rate = read(be_ + "/rate")) {
    rate_ = xen::parse_rate(*rate);
    if (!rate_) return *why = "bad rate", false;
  }
  // The VM's name is for display only; keep it short and printable.
  info_.name.clear();
  if (const auto name = read("/local/domain/" + std::to_string(info_.domid.value()) + "/name")) {
    if (name->size() <= 64 &&
        std::all_of(name->begin(), name->end(), [](char c) { return c > ' ' && c < 127; })) {
      info_.name = *name;
    }
  }
  return true;
}

bool Device::advertise_features() {
  // Only what is really handled (item 21: no ctrl ring; single queue).
  const char* gso = nb_.cfg_.limits.gso ? "1" : "0";
  const std::pair<const char*, const char*> kFeatures[] = {
      {"feature-sg", "1"},
      {"feature-rx-copy", "1"},
      {"feature-rx-flip", "0"},
      {"feature-gso-tcpv4", gso},
      {"feature-gso-tcpv6", gso},
      {"feature-ipv6-csum-offload", "0"},
      {"feature-multicast-control", "0"},
      {"feature-split-event-channels", "0"},
      {"feature-ctrl-ring", "0"},
  };
  for (int attempt = 0; attempt < 8; ++attempt) {
    const auto t = nb_.xs_.transaction_start();
    if (!t) return false;
    bool ok = true;
    for (const auto& [k, v] : kFeatures) ok &= nb_.xs_.write(*t, be_ + "/" + k, v);
    ok &= nb_.xs_.write(*t, be_ + "/state", std::to_string(int(XenbusState::init_wait)));
    const auto end = nb_.xs_.transaction_end(*t, ok);
    if (!ok) return false;
    if (end == xen::XsTxnEnd::committed) {
      written_ = XenbusState::init_wait;
      return true;
    }
    if (end == xen::XsTxnEnd::failed) return false;
  }
  return false;
}

// Frontend keys (item 19). Everything is parsed strictly (item 17); anything missing or
// inconsistent refuses the connection.
bool Device::connect(std::string* why) {
  auto key = [&](const char* k) { return read(fe_ + "/" + k); };
  VifConnectParams p;
  p.domid = info_.domid;
  p.rate = rate_;
  const auto tx = key("tx-ring-ref"), rx = key("rx-ring-ref");
  const auto txr = tx ? xen::parse_grant_ref(*tx) : std::nullopt;
  const auto rxr = rx ? xen::parse_grant_ref(*rx) : std::nullopt;
  if (!txr || !rxr) return *why = "bad or missing tx-ring-ref/rx-ring-ref", false;
  if (*txr == *rxr) return *why = "tx-ring-ref and rx-ring-ref name the same grant", false;
  p.tx_ring_ref = *txr;
  p.rx_ring_ref = *rxr;
  const auto ev = key("event-channel");
  if (!ev) {
    return *why = key("event-channel-tx") ? "split event channels were not offered"
                                          : "missing event-channel",
           false;
  }
  const auto port = xen::parse_evtchn_port(*ev);
  if (!port) return *why = "bad event-channel", false;
  p.remote_port = *port;
  const auto copy = key("request-rx-copy");
  if (!copy || xen::parse_bool01(*copy) != true) return *why = "request-rx-copy must be 1", false;
  const auto notify = key("feature-rx-notify");
  if (!notify || xen::parse_bool01(*notify) != true)
    return *why = "feature-rx-notify must be 1", false;
  for (auto [k, flag] : {std::pair{"feature-sg", &p.guest_rx_sg}, std::pair{"feature-gso-tcpv4", &p.guest_rx_gso4},
                         std::pair{"feature-gso-tcpv6", &p.guest_rx_gso6}}) {
    if (const auto v = key(k)) {
      const auto b = xen::parse_bool01(*v);
      if (!b) return *why = std::string("bad ") + k, false;
      *flag = *b;
    }
  }
  if (const auto q = key("multi-queue-num-queues")) {
    if (xen::parse_uint(*q, 1) != 1) return *why = "multi-queue-num-queues must be 1", false;
  }

  const VifId id = nb_.attach(*this);
  info_.id = id;
  vif_ = Vif::connect({nb_.gnt_, nb_.evt_}, id, p, nb_.cfg_.limits, why);
  if (!vif_) {
    nb_.detach(*this, id);
    return false;
  }
  nb_.by_port_[vif_->port().value()] = vif_.get();
  return true;
}

void Device::teardown() {
  if (!vif_) return;
  nb_.flush_held();  // the vif's held frames are answered while it is still there
  last_counters_ = vif_->counters();
  nb_.by_port_.erase(vif_->port().value());
  const VifId id = vif_->id();
  if (phase_ == Phase::connected) nb_.sink_.vif_down(id);  // before the rings go away
  nb_.detach(*this, id);
  vif_.reset();           // unbinds the event channel, unmaps both rings (item 16)
}

void Device::disconnect_fatal() {
  if (!vif_) return;
  fatal_ = vif_->fatal();
  nb_.log(LogLevel::warn, "vif " + std::to_string(info_.domid.value()) + "." +
                              std::to_string(info_.devid) + ": disconnected: " +
                              describe(*fatal_));
  teardown();
  set_state(XenbusState::closing);
  phase_ = Phase::closing;
}

void Device::connect_and_announce(const char* what) {
  std::string why;
  if (!connect(&why)) return refuse(why);
  if (nb_.cfg_.write_hotplug_status &&
      !nb_.xs_.write(xen::kNoTxn, be_ + "/hotplug-status", "connected")) {
    nb_.log(LogLevel::warn, be_ + ": cannot write hotplug-status");
  }
  if (written_ != XenbusState::connected) set_state(XenbusState::connected);
  phase_ = Phase::connected;
  nb_.sink_.vif_up(info_);
  nb_.activate(*vif_);  // serve whatever the guest queued before we attached
  nb_.log(LogLevel::info, "vif " + std::to_string(info_.domid.value()) + "." +
                              std::to_string(info_.devid) + " " + what +
                              (info_.name.empty() ? "" : " (" + info_.name + ")"));
}

void Device::reconcile(TimePoint now) {
  if (phase_ == Phase::gone) return;
  const auto be_state_s = read(be_ + "/state");
  if (!be_state_s) {
    // Not fully written yet, or created and removed before we looked.
    if (phase_ == Phase::fresh) {
      if (!read(be_)) phase_ = Phase::gone;
      return;
    }
    teardown();  // the toolstack removed the device
    phase_ = Phase::gone;
    return;
  }

  const auto online_s = read(be_ + "/online");
  const bool online = online_s && xen::parse_bool01(*online_s) == true;
  if (phase_ == Phase::fresh) {
    if (!online) {  // being removed, or never meant to run: leave it alone
      phase_ = Phase::gone;
      return;
    }
    std::string why;
    if (!read_backend_keys(&why)) return refuse(why);
    if (!nb_.xs_.watch(fe_ + "/state", "fe")) return refuse("cannot watch the frontend");
    fe_watched_ = true;
    // Both ends already Connected: a previous xfwd served this vif and stopped. Resume the
    // live rings rather than going back to InitWait, which a connected netfront ignores.
    const auto fe_now = read(fe_ + "/state");
    if (xen::parse_xenbus_state(*be_state_s) == XenbusState::connected && fe_now &&
        xen::parse_xenbus_state(*fe_now) == XenbusState::connected) {
      written_ = XenbusState::connected;
      phase_ = Phase::init_wait;
      return connect_and_announce("resumed");
    }
    if (!advertise_features()) return refuse("cannot write features");
    phase_ = Phase::init_wait;
  }

  const auto be_state = xen::parse_xenbus_state(*be_state_s);
  // The toolstack asks for removal by writing state=Closing itself (libxl device remove).
  if (be_state == XenbusState::closing && written_ != XenbusState::closing) {
    teardown();
    set_state(XenbusState::closed);
    phase_ = Phase::closed;
  }

  if (!fe_watched_) return;  // refused before the frontend was validated and watched

  const auto fe_state_s = read(fe_ + "/state");
  const auto fe_state = fe_state_s ? xen::parse_xenbus_state(*fe_state_s)
                                   : std::optional<XenbusState>(XenbusState::closed);
  switch (fe_state.value_or(XenbusState::unknown)) {
    case XenbusState::initialising:
    case XenbusState::init_wait:
      // Back to Initialising after Connected or Closed: start over. A refused or
      // disconnected device (Closing) first waits for the frontend to acknowledge with Closed.
      if (phase_ == Phase::connected || phase_ == Phase::closed) {
        if (phase_ == Phase::closed && !online) break;  // being removed: stay closed
        teardown();
        refused_.clear();
        fatal_.reset();
        set_state(XenbusState::init_wait);
        phase_ = Phase::init_wait;
      }
      break;
    case XenbusState::initialised:
    case XenbusState::connected:
      if (phase_ == Phase::init_wait) connect_and_announce("connected");
      break;
    case XenbusState::closing:
      if (phase_ != Phase::closing && phase_ != Phase::closed) {
        teardown();
        set_state(XenbusState::closing);
        phase_ = Phase::closing;
      }
      break;
    default:  // Closed, Unknown, missing, garbage or reconfiguring (not offered)
      if (phase_ != Phase::closed) {
        teardown();
        set_state(XenbusState::closed);
        phase_ = Phase::closed;
      }
      break;
  }
  if (phase_ == Phase::closed && !online) {
    // Removed by the toolstack (online=0) and closed: the backend directory is ours to delete,
    // as a driver domain's `xl devd` does; libxl in dom0 waits for that before it forgets the
    // device (10 s, then "timed out while waiting for .../backend/vif/D/N to be removed"), but
    // first for Closed, which must still be there when it looks (kRemoveGrace).
    if (!remove_at_) remove_at_ = now + kRemoveGrace;
    if (now < *remove_at_) return;
    if (!nb_.xs_.rm(xen::kNoTxn, be_)) nb_.log(LogLevel::warn, be_ + ": cannot remove the backend directory");
    phase_ = Phase::gone;
  }
}

}  // namespace xfw::netback
