#include "netback/netback.h"

#include <algorithm>
#include <utility>

#include "netback/device.h"

namespace xfw::netback {
namespace {

// "<a>/<b>" at the start of `rest` (followed by '/' or end) -> two strictly parsed numbers.
std::optional<std::pair<uint16_t, uint32_t>> parse_dev_key(std::string_view rest) {
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const auto dom = xen::parse_domid(rest.substr(0, slash));
  rest.remove_prefix(slash + 1);
  const auto dev = xen::parse_uint(rest.substr(0, rest.find('/')), INT32_MAX);
  if (!dom || !dev) return std::nullopt;
  return std::pair{dom->value(), uint32_t(*dev)};
}

}  // namespace

Netback::Netback(xen::XenStore& xs, xen::GrantTable& gnt, xen::EventChannels& evt,
                 FrameSink& sink, NetbackConfig cfg)
    : xs_(xs), gnt_(gnt), evt_(evt), sink_(sink), cfg_(std::move(cfg)) {}

Netback::~Netback() {
  devices_.clear();  // each Device tears its vif down
  if (!root_.empty()) xs_.unwatch(root_, "be");
}

bool Netback::start(std::string* err) {
  const auto self = xs_.own_domid();
  if (!self) return *err = "cannot determine our own domain id from XenStore", false;
  self_ = *self;
  root_ = "/local/domain/" + std::to_string(self_.value()) + "/backend/vif";
  if (!xs_.watch(root_, "be")) return *err = "cannot watch " + root_, false;
  return true;
}

void Netback::mark_from_path(const std::string& path) {
  const std::string_view p = path;
  if (p.starts_with(root_) && (p.size() == root_.size() || p[root_.size()] == '/')) {
    const auto rest = p.substr(std::min(p.size(), root_.size() + 1));
    const auto key = parse_dev_key(rest);
    if (key) {
      dirty_.push_back(*key);
    } else {
      rescan_ = true;  // the root or a per-domain directory changed
    }
    return;
  }
  // Frontend state watches: /local/domain/<d>/device/vif/<n>/state. Only known devices: a
  // guest writing under its own directory never creates a device.
  constexpr std::string_view kLocal = "/local/domain/";
  if (!p.starts_with(kLocal)) return;
  const auto rest = p.substr(kLocal.size());
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos) return;
  const auto tail = rest.substr(slash);
  constexpr std::string_view kVif = "/device/vif/";
  if (!tail.starts_with(kVif)) return;
  const auto dom = xen::parse_domid(rest.substr(0, slash));
  const auto dev_s = tail.substr(kVif.size());
  const auto dev = xen::parse_uint(dev_s.substr(0, dev_s.find('/')), INT32_MAX);
  if (dom && dev && devices_.contains({dom->value(), uint32_t(*dev)})) {
    dirty_.push_back({dom->value(), uint32_t(*dev)});
  }
}

void Netback::rescan() {
  const auto doms = xs_.directory(xen::kNoTxn, root_);
  std::vector<std::pair<uint16_t, uint32_t>> present;
  for (const auto& d : doms.value_or(std::vector<std::string>{})) {
    const auto dom = xen::parse_domid(d);
    if (!dom) continue;
    const auto devs = xs_.directory(xen::kNoTxn, root_ + "/" + d);
    for (const auto& n : devs.value_or(std::vector<std::string>{})) {
      const auto dev = xen::parse_uint(n, INT32_MAX);
      if (dev) present.push_back({dom->value(), uint32_t(*dev)});
    }
  }
  for (const auto& k : present) dirty_.push_back(k);
  for (const auto& [k, dev] : devices_) {
    if (std::find(present.begin(), present.end(), k) == present.end()) dirty_.push_back(k);
  }
}

void Netback::on_xenstore(TimePoint now) {
  while (auto e = xs_.next_watch_event()) mark_from_path(e->path);
  if (std::exchange(rescan_, false)) rescan();
  reconcile_dirty(now);
}

void Netback::reconcile_dirty(TimePoint now) {
  std::sort(dirty_.begin(), dirty_.end());
  dirty_.erase(std::unique(dirty_.begin(), dirty_.end()), dirty_.end());
  for (const auto& key : dirty_) {
    auto it = devices_.find(key);
    if (it == devices_.end()) {
      it = devices_.emplace(key, std::make_unique<Device>(*this, xen::DomId{key.first}, key.second))
               .first;
    }
    it->second->reconcile(now);
    if (it->second->gone()) devices_.erase(it);
  }
  dirty_.clear();
}

VifId Netback::attach(Device& d) {
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = uint32_t(slots_.size());
    slots_.push_back({});
    active_.reserve(slots_.size());
    active_next_.reserve(slots_.size());
  }
  slots_[slot].dev = &d;
  return {slot, ++slots_[slot].gen};
}

void Netback::detach(Device&, VifId id) {
  Slot& s = slots_.at(id.slot);
  if (s.gen != id.gen || s.dev == nullptr) return;
  if (Vif* v = s.dev->vif()) {
    std::replace(active_.begin(), active_.end(), v, static_cast<Vif*>(nullptr));
    std::replace(active_next_.begin(), active_next_.end(), v, static_cast<Vif*>(nullptr));
  }
  s.dev = nullptr;
  ++s.gen;  // stale VifIds are refused from now on
  free_slots_.push_back(id.slot);
}

Vif* Netback::vif_of(VifId id) const {
  if (id.slot >= slots_.size()) return nullptr;
  const Slot& s = slots_[id.slot];
  if (s.gen != id.gen || s.dev == nullptr) return nullptr;
  return s.dev->vif();
}

void Netback::activate(Vif& v) {
  if (v.sched.queued) return;
  v.sched.queued = true;
  active_.push_back(&v);
}

void Netback::on_events(TimePoint) {
  while (const auto port = evt_.pending()) {
    const auto it = by_port_.find(port->value());
    if (it == by_port_.end()) continue;  // already torn down
    it->second->sched.kicked = true;
    activate(*it->second);
  }
}

void Netback::flush_held() {
  if (held_.nframes == 0) return;
  if (held_.nops > 0) gnt_.copy(std::span(held_.ops.data(), held_.nops));
  for (uint32_t f = 0; f < held_.nframes; ++f) held_.frames[f].vif->rx_held_done(held_.frames[f], held_);
  held_.nops = held_.nframes = held_.nids = 0;
}

bool Netback::poll(TimePoint now) {
  flush_held();
  std::swap(active_, active_next_);  // this pass's work; new work goes to active_
  for (std::size_t i = 0; i < active_next_.size(); ++i) {
    Vif* v = active_next_[i];
    if (v == nullptr) continue;  // torn down during this pass
    v->sched.queued = false;
    const bool kicked = std::exchange(v->sched.kicked, false);
    const auto pass = v->service(sink_, scratch_, now, kicked);
    if (v->fatal()) {
      slots_[v->id().slot].dev->disconnect_fatal();  // this vif only
      continue;
    }
    if (pass == Vif::Pass::more_work) activate(*v);
  }
  active_next_.clear();
  std::erase(active_, nullptr);
  return !active_.empty();
}

void Netback::on_timer(TimePoint now) {
  flush_held();
  for (const auto& [key, dev] : devices_) {
    Vif* v = dev->vif();
    const auto t = v ? v->wake_at() : std::nullopt;
    if (t && *t <= now) activate(*v);
    if (const auto r = dev->remove_at(); r && *r <= now) dirty_.push_back(key);
  }
  reconcile_dirty(now);
}

std::optional<TimePoint> Netback::next_deadline() const {
  std::optional<TimePoint> best;
  auto consider = [&](std::optional<TimePoint> t) {
    if (t && (!best || *t < *best)) best = t;
  };
  for (const auto& [key, dev] : devices_) {
    const Vif* v = dev->vif();
    consider(v ? v->wake_at() : std::nullopt);
    consider(dev->remove_at());
  }
  return best;
}

bool Netback::takes_gso(VifId id, uint8_t type) const {
  const Vif* v = vif_of(id);
  return v != nullptr && v->takes_gso(type);
}

bool Netback::to_guest(VifId id, std::span<const std::byte> frame, Gso gso, bool held) {
  Vif* v = vif_of(id);
  if (v == nullptr) return false;
  if (held && held_.full()) flush_held();
  if (!v->queue_to_guest(frame, gso, scratch_, held ? &held_ : nullptr)) return false;
  activate(*v);  // its next pass sends what is queued, and the event for what went at once
  return true;
}

std::size_t Netback::connected_vifs() const {
  return std::count_if(devices_.begin(), devices_.end(),
                       [](const auto& kv) { return kv.second->vif() != nullptr; });
}

std::vector<DeviceStatus> Netback::devices() const {
  std::vector<DeviceStatus> out;
  for (const auto& [key, dev] : devices_) {
    DeviceStatus s;
    const VifInfo& info = dev->info();
    s.domid = info.domid;
    s.devid = info.devid;
    s.name = info.name;
    s.mac = info.mac.str();
    for (const auto& a : info.ips.v4) s.ips.push_back(a.str());
    for (const auto& a : info.ips.v6) s.ips.push_back(a.str());
    s.backend_state = dev->written_state();
    s.disconnect_reason = dev->disconnect_reason();
    s.refused = dev->refused();
    if (const Vif* v = dev->vif()) {
      s.connected = true;
      s.rx_stalled = v->rx_stalled();
      s.guest_sg = v->params().guest_rx_sg;
      s.guest_gso4 = v->params().guest_rx_gso4;
      s.guest_gso6 = v->params().guest_rx_gso6;
      s.counters = v->counters();
    } else {
      s.counters = dev->last_counters();
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace xfw::netback
