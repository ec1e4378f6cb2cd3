#include "netfront/netfront.h"

#include <algorithm>

namespace xfw::netfront {

using xen::XenbusState;

namespace {

void add(Counters& to, const Counters& c) {
  to.tx_frames += c.tx_frames, to.tx_bytes += c.tx_bytes, to.tx_gso += c.tx_gso;
  to.rx_frames += c.rx_frames, to.rx_bytes += c.rx_bytes, to.rx_gso += c.rx_gso;
  to.events += c.events, to.spurious_events += c.spurious_events;
  to.notifications += c.notifications;
  for (std::size_t i = 0; i < kDropReasonCount; ++i) to.drops[i] += c.drops[i];
}

constexpr std::chrono::milliseconds kMaxBackoff{30'000};
constexpr std::chrono::seconds kHealthy{60};  // a link up this long forgets earlier resets

}  // namespace

Netfront::Netfront(xen::XenStore& xs, xen::GrantShare& share, xen::EventChannels& evt,
                   NetfrontConfig cfg)
    : xs_(xs), share_(share), evt_(evt), cfg_(std::move(cfg)) {}

Netfront::~Netfront() {
  // The backend is told we are gone; it lets go of the pages (which the kernel keeps until it
  // does, item 9) and, restarted, we connect again through Closed -> Initialising.
  if (link_) set_state(XenbusState::closed);
  teardown();
  if (!be_watched_.empty()) xs_.unwatch(be_watched_, "nf-be");
  if (!root_.empty()) xs_.unwatch(root_, "nf");
}

bool Netfront::start(std::string* err) {
  const auto self = xs_.own_domid();
  if (!self) return *err = "cannot learn our domid from XenStore", false;
  self_ = *self;
  root_ = "/local/domain/" + std::to_string(self_.value()) + "/device/vif";
  if (!xs_.watch(root_, "nf")) return *err = "cannot watch " + root_, false;
  if (!pick_device()) return *err = "no vif under " + root_ + " (the uplink's frontend)", false;
  std::string why;
  if (!read_keys(&why)) return *err = fe_ + ": " + why, false;
  reconcile(Clock::now());
  return true;
}

bool Netfront::pick_device() {
  devid_ = cfg_.devid;
  if (!devid_) {
    const auto list = xs_.directory(xen::kNoTxn, root_);
    for (const auto& name : list.value_or(std::vector<std::string>{})) {
      const auto n = xen::parse_uint(name, UINT32_MAX);
      if (n && (!devid_ || *n < *devid_)) devid_ = uint32_t(*n);
    }
  }
  if (!devid_ || !read(root_ + "/" + std::to_string(*devid_))) {
    devid_.reset();
    fe_.clear();
    return false;
  }
  fe_ = root_ + "/" + std::to_string(*devid_);
  return true;
}

// The toolstack's keys in our own directory (only it and we can write there; item 14: the MAC
// and the backend come from here, never from what the backend writes).
bool Netfront::read_keys(std::string* why) {
  const auto id_s = read(fe_ + "/backend-id");
  const auto id = id_s ? xen::parse_domid(*id_s) : std::nullopt;
  if (!id || *id == self_) return *why = "bad or missing backend-id", false;
  const std::string expected = "/local/domain/" + std::to_string(id->value()) + "/backend/vif/" +
                               std::to_string(self_.value()) + "/" + std::to_string(*devid_);
  const auto be = read(fe_ + "/backend");
  if (!be || *be != expected) return *why = "backend is not " + expected, false;
  const auto mac_s = read(fe_ + "/mac");
  const auto mac = mac_s ? packet::MacAddr::parse(*mac_s) : std::nullopt;
  if (!mac) return *why = "bad or missing mac", false;
  if (!have_mac_) {
    mac_ = *mac;
    have_mac_ = true;
  } else if (!(*mac == mac_)) {
    log(LogLevel::warn, fe_ + ": the toolstack's mac changed to " + *mac_s + "; keeping the first");
  }
  if (be_ != expected) {  // a new backend: whatever we had with the old one is over
    teardown();
    if (!be_watched_.empty()) xs_.unwatch(be_watched_, "nf-be");
    be_ = expected;
    be_id_ = *id;
    be_watched_ = be_ + "/state";
    if (!xs_.watch(be_watched_, "nf-be")) be_watched_.clear();
    be_state_ = XenbusState::unknown;
  }
  return true;
}

void Netfront::set_state(XenbusState s) {
  if (!xs_.write(xen::kNoTxn, fe_ + "/state", std::to_string(int(s)))) {
    log(LogLevel::warn, fe_ + ": cannot write state");
  }
  written_ = s;
}

void Netfront::teardown() {
  if (!link_) return;
  add(past_, link_->counters());
  link_.reset();  // closes the port, ends the grants (items 9, 13)
  kicked_ = false;
  healthy_since_.reset();
}

// What another frontend of this vif may have left that we do not write: the kernel's netfront,
// when it had the vif before xfwd (Linux sys-firewall, or the lab's kernel baseline), writes
// queue-N/ directories and multi-queue-num-queues for more than one queue, split event
// channels, XDP headroom. Left there, Linux's netback would read them as ours (two queues at
// the old ring references: "mapping shared-frames failed").
bool Netfront::remove_foreign_keys(xen::XsTxn t) {
  static constexpr const char* kForeign[] = {"multi-queue-num-queues", "event-channel-tx", "event-channel-rx",
                                             "feature-xdp", "xdp-headroom", "ctrl-ring-ref",
                                             "event-channel-ctrl", "feature-no-csum-offload"};
  bool ok = true;
  for (const char* k : kForeign) ok &= xs_.rm(t, fe_ + "/" + k);
  if (const auto children = xs_.directory(t, fe_)) {
    for (const auto& c : *children)
      if (c.starts_with("queue-")) ok &= xs_.rm(t, fe_ + "/" + c);
  }
  return ok;
}

// Item 14: strict parsing, and only what both ends offer.
bool Netfront::connect(std::string* why) {
  auto flag = [&](const char* k, bool* out) {
    const auto v = read(be_ + "/" + k);
    if (!v) return *out = false, true;
    const auto b = xen::parse_bool01(*v);
    if (!b) return *why = std::string("bad ") + k, false;
    return *out = *b, true;
  };
  bool copy = false;
  BackendFeatures f;
  if (!flag("feature-rx-copy", &copy) || !flag("feature-sg", &f.sg) ||
      !flag("feature-gso-tcpv4", &f.gso4) || !flag("feature-gso-tcpv6", &f.gso6)) {
    return false;
  }
  if (!copy) return *why = "the backend does not offer feature-rx-copy", false;
  link_ = Link::create({share_, evt_}, be_id_, f, cfg_.limits, why);
  if (!link_) return false;
  const char* gso = cfg_.limits.rx_gso ? "1" : "0";
  const std::pair<const char*, std::string> keys[] = {
      {"tx-ring-ref", std::to_string(link_->tx_ring_ref().value())},
      {"rx-ring-ref", std::to_string(link_->rx_ring_ref().value())},
      {"event-channel", std::to_string(link_->port().value())},
      {"request-rx-copy", "1"},
      {"feature-rx-notify", "1"},
      {"feature-sg", "1"},
      {"feature-gso-tcpv4", gso},
      {"feature-gso-tcpv6", gso},
      {"feature-ipv6-csum-offload", "1"},
  };
  for (int attempt = 0; attempt < 8; ++attempt) {
    const auto t = xs_.transaction_start();
    if (!t) break;
    bool ok = remove_foreign_keys(*t);
    for (const auto& [k, v] : keys) ok &= xs_.write(*t, fe_ + "/" + k, v);
    ok &= xs_.write(*t, fe_ + "/state", std::to_string(int(XenbusState::connected)));
    const auto end = xs_.transaction_end(*t, ok);
    if (ok && end == xen::XsTxnEnd::committed) {
      written_ = XenbusState::connected;
      ++connects_;
      refused_.clear();
      return true;
    }
    if (!ok || end == xen::XsTxnEnd::failed) break;
  }
  teardown();
  return *why = "cannot write our keys to " + fe_, false;
}

void Netfront::reset(TimePoint now) {
  last_reset_ = link_->fatal();
  ++resets_;
  if (healthy_since_ && now - *healthy_since_ > kHealthy) backoff_ = {};
  backoff_ = std::min(backoff_.count() ? backoff_ * 2 : cfg_.reset_backoff, kMaxBackoff);
  hold_until_ = now + backoff_;
  log(LogLevel::warn, fe_ + ": uplink reset: " + std::string(describe(*last_reset_)) +
                          "; reconnecting in " + std::to_string(backoff_.count()) + " ms");
  teardown();
  set_state(XenbusState::closing);
}

void Netfront::reconcile(TimePoint now) {
  if (!devid_ && !pick_device()) return;
  auto fe_state_s = read(fe_ + "/state");
  if (!fe_state_s && !read(fe_)) {
    // The toolstack removed our vif (sys-net went away, or the uplink was detached).
    log(LogLevel::info, fe_ + ": removed");
    teardown();
    written_ = XenbusState::unknown;
    if (!pick_device()) return;
    fe_state_s = read(fe_ + "/state");
  }
  std::string why;
  if (!read_keys(&why)) {
    if (refused_ != why) log(LogLevel::warn, fe_ + ": " + why);
    refused_ = why;
    teardown();
    return;
  }
  const auto fe_state = fe_state_s ? xen::parse_xenbus_state(*fe_state_s) : std::nullopt;
  if (written_ == XenbusState::unknown) {
    written_ = fe_state.value_or(XenbusState::unknown);  // what a previous run left
  } else if (fe_state == XenbusState::initialising && written_ != XenbusState::initialising) {
    teardown();  // the toolstack wrote the device anew: start over
    written_ = XenbusState::initialising;
  }

  const auto be_s = read(be_ + "/state");
  const auto be_state = be_s ? xen::parse_xenbus_state(*be_s) : std::nullopt;
  be_state_ = be_state.value_or(XenbusState::unknown);
  const bool held = hold_until_ && now < *hold_until_;
  switch (be_state_) {
    case XenbusState::init_wait:
      if (link_ && link_->ready()) teardown();  // the backend started over without us
      if (!link_ && !held && written_ != XenbusState::closing && written_ != XenbusState::closed) {
        if (!connect(&why)) {
          if (refused_ != why) log(LogLevel::warn, fe_ + ": cannot connect: " + why);
          refused_ = why;
        }
      }
      break;
    case XenbusState::connected:
      if (link_) {
        if (!link_->ready()) {
          link_->set_ready(true);
          healthy_since_ = now;
          log(LogLevel::info, fe_ + ": uplink connected to " + be_);
        }
      } else if (written_ != XenbusState::closing && written_ != XenbusState::closed) {
        // Connected to rings we no longer have (a previous xfwd, or before a reset): ask it to
        // let go, then reconnect through Closed -> Initialising.
        set_state(XenbusState::closing);
      }
      break;
    case XenbusState::closing:
      teardown();
      if (written_ != XenbusState::closed) set_state(XenbusState::closed);
      break;
    case XenbusState::closed: {
      teardown();
      if (written_ != XenbusState::closed && written_ != XenbusState::initialising) {
        set_state(XenbusState::closed);
      }
      const auto online = read(be_ + "/online");
      if (written_ == XenbusState::closed && !held && online && xen::parse_bool01(*online) == true) {
        set_state(XenbusState::initialising);  // Linux netback: "prepare for reconnect"
      }
      break;
    }
    default:  // Initialising, garbage, or gone (sys-net destroyed): wait for a backend
      teardown();
      break;
  }
}

bool Netfront::on_xenstore(TimePoint now) {
  bool ours = false;
  while (auto ev = xs_.next_watch_event()) ours = true;
  if (ours) reconcile(now);
  return ours;
}

void Netfront::on_events(TimePoint) {
  while (auto p = evt_.pending()) {
    if (link_ && *p == link_->port()) kicked_ = true;
  }
}

bool Netfront::poll(TimePoint now) {
  if (!link_) return false;
  const bool kicked = kicked_;
  kicked_ = false;
  const auto pass = link_->service(rx_, now, kicked);
  pass_end_();  // before a reset can free the frames
  if (link_->fatal()) {
    reset(now);
    return false;
  }
  return pass == Link::Pass::more_work;
}

bool Netfront::on_timer(TimePoint now) {
  if (hold_until_ && now >= *hold_until_) {
    hold_until_.reset();
    reconcile(now);
  }
  return link_ && link_->wake_at() && now >= *link_->wake_at();
}

std::optional<TimePoint> Netfront::next_deadline() const {
  std::optional<TimePoint> t = hold_until_;
  if (link_ && link_->wake_at() && (!t || *link_->wake_at() < *t)) t = link_->wake_at();
  return t;
}

bool Netfront::send(std::span<const std::byte> frame, std::optional<TxOffload> offload) {
  if (!link_) {
    ++past_.drops[std::size_t(DropReason::tx_down)];
    return false;
  }
  return link_->send(frame, offload);
}

NetfrontStatus Netfront::status(TimePoint now) const {
  NetfrontStatus s;
  s.dir = fe_;
  s.backend = be_;
  s.backend_id = be_id_;
  s.state = written_;
  s.backend_state = be_state_;
  s.connected = connected();
  s.tx_stalled = link_ && link_->tx_stalled(now);
  if (link_) s.features = link_->features();
  s.connects = connects_;
  s.resets = resets_;
  s.last_reset = last_reset_;
  s.refused = refused_;
  s.counters = past_;
  if (link_) add(s.counters, link_->counters());
  return s;
}

}  // namespace xfw::netfront
