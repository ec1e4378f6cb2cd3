#include "daemon/dataplane.h"

#include "packet/describe.h"
#include "packet/segment.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

namespace xfw::daemon {

namespace {
std::string vm_label(const netback::VifInfo& v) {  // its name, else its address
  return !v.name.empty() ? v.name : !v.ips.v4.empty() ? v.ips.v4[0].str() : "-";
}
}  // namespace

Dataplane::Dataplane(firewall::PipelineConfig cfg, uint64_t seed)
    : pipeline_(std::move(cfg), *this, seed) {
  uplink_copy_.reserve(firewall::Pipeline::kMaxFrame);
}

void Dataplane::vif_up(const netback::VifInfo& v) {
  netback::VifInfo info = v;
  info.id = to_pipeline(v.id);
  if (info.id.slot >= vifs_.size()) vifs_.resize(info.id.slot + 1);
  vifs_[info.id.slot] = VifStats{info, true, 0, 0};
  const firewall::AdoptStats before = pipeline_.adopt_stats();
  pipeline_.vif_up(info, now_ms());
  if (!(pipeline_.adopt_stats() == before))
    spdlog::info("connections: vif {}/{} ({}): {}", info.domid.value(), info.devid, vm_label(info),
                 firewall::summary(pipeline_.adopt_stats(), before));
}

void Dataplane::vif_down(netback::VifId v) {
  const auto id = to_pipeline(v);
  if (id.slot < vifs_.size()) vifs_[id.slot].up = false;
  pipeline_.vif_down(id);
}

void Dataplane::attach_self(SelfTap& tap, packet::Ipv4Addr addr) {
  self_ = &tap;
  netback::VifInfo info{kSelf, xen::DomId{0}, 0, "self", tap.mac(), xen::IpList{{addr}, {}}};
  if (vifs_.empty()) vifs_.resize(1);
  vifs_[0] = VifStats{info, true, 0, 0};
  pipeline_.vif_up(info);
}

void Dataplane::from_self(std::span<std::byte> f) {
  if (captures_.active()) captures_.frame(Tap::from_vm, kSelf, f);
  from_vm_ = kSelf;
  count(pipeline_.from_client_in_place(kSelf, f, {}, pass_now()), vifs_.empty() ? nullptr : &vifs_[0], f);
  from_vm_.reset();
}

void Dataplane::count(std::optional<firewall::DropReason> r, VifStats* v, std::span<const std::byte> frame) {
  if (!r) {
    if (v) ++v->forwarded;
    return;
  }
  ++drops_[std::size_t(*r)];
  if (v) ++v->dropped;
  if (captures_.active())
    captures_.frame(Tap::drop, v ? std::optional(v->info.id) : std::nullopt, frame, firewall::name(*r));
  record(*r, v, frame);
}

// A drop log, rate limited: a flood of bad frames costs a counter increment each, no more.
void Dataplane::record(firewall::DropReason r, const VifStats* v, std::span<const std::byte> frame) {
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  if (now / 1000 != log_second_) {
    log_second_ = now / 1000;
    log_budget_ = kDropLogRate;
  }
  if (log_budget_ <= 0) return;
  --log_budget_;
  DropRecord& d = recent_.next();  // filled in place: assign() keeps each record's reserved buffers
  d.seq = ++drop_seq_;
  d.time_ms = now;
  d.vm.assign(v ? pipeline_.vm_of(v->info.id) : "");
  if (v && d.vm.empty()) d.vm.assign(v->info.name);
  d.reason = r;
  d.len = uint32_t(frame.size());
  d.head.assign(frame.begin(), frame.begin() + long(std::min(frame.size(), DropLog::kSnapLen)));
  d.what.assign(packet::describe(frame));
  spdlog::debug("drop: {} {} {}", d.vm.empty() ? "(uplink)" : d.vm, firewall::name(r), d.what);
  if (on_drop) on_drop(d);
}

std::string Dataplane::drop_summary(int seconds) {
  uint64_t total = 0;
  std::string parts;
  for (std::size_t r = 0; r < kDropReasons; ++r) {
    const uint64_t n = drops_[r] - summarized_[r];
    if (n == 0) continue;
    total += n;
    parts += (parts.empty() ? "" : ", ") + std::string(firewall::name(firewall::DropReason(r))) + " " + std::to_string(n);
  }
  summarized_ = drops_;
  if (total == 0) return "";
  std::string s = std::to_string(total) + " drops in the last " + std::to_string(seconds) + " s: " + parts;
  if (const DropRecord* d = recent_.newest())
    s += "; last: " + (d->vm.empty() ? std::string("(uplink)") : d->vm) + " " + firewall::name(d->reason) + " " + d->what;
  return s;
}

void Dataplane::from_guest(netback::VifId v, std::span<std::byte> f, netback::TxFlags fl) {
  const auto id = to_pipeline(v);
  VifStats* s = id.slot < vifs_.size() ? &vifs_[id.slot] : nullptr;
  if (captures_.active()) captures_.frame(Tap::from_vm, id, f);
  from_vm_ = id;
  count(pipeline_.from_client_in_place(id, f, fl, pass_now()), s, f);
  from_vm_.reset();
}

void Dataplane::from_uplink(std::span<std::byte> f, bool csum_blank, bool csum_valid) {
  if (captures_.active()) {
    captures_.frame(Tap::from_uplink, std::nullopt, f);
    // The pipeline rewrites f; the from_uplink_to_vm tap shows the frame as it was read.
    uplink_copy_.assign(f.begin(), f.end());
    uplink_frame_ = uplink_copy_;
  }
  if (uplink_ && uplink_->holds_frames()) held_frame_ = f;
  const auto r = pipeline_.from_uplink_in_place(f, pass_now(), csum_blank, csum_valid);
  uplink_frame_ = {};
  held_frame_ = {};
  if (!r) ++uplink_forwarded_;
  count(r, nullptr, f);
}

void Dataplane::send_uplink(std::span<const std::byte> f, const std::optional<UplinkOffload>& o) {
  if (captures_.active()) captures_.frame(Tap::to_uplink, from_vm_, f);
  uplink_->send(f, o);
}

// A TCP super-frame (longer than a VM's link; its checksum partial) goes out whole,
// the kernel finishing its checksum and, if it is longer than the uplink's MTU, cutting it into
// segments of the size the guest's TCP chose (no larger than the MTU allows). A frame longer
// than the MTU that is not TCP cannot leave.
void Dataplane::to_uplink(std::span<const std::byte> f, uint16_t gso_size) {
  if (!uplink_) return;
  if (f.size() <= 14 + firewall::kVmMtu) return send_uplink(f);
  const auto parsed = packet::parse(f);
  const auto* p = std::get_if<packet::Parsed>(&parsed);
  if (!p || !firewall::is_super_frame(*p)) {
    if (f.size() <= 14 + uplink_->mtu()) return send_uplink(f);
    return count(firewall::DropReason::too_big_for_uplink, nullptr, f);
  }
  const std::size_t hdrs = p->l4_off + packet::tcp_header_len(f, *p);
  if (hdrs >= 14 + uplink_->mtu()) return count(firewall::DropReason::too_big_for_uplink, nullptr, f);
  const auto room = uint16_t(14 + uplink_->mtu() - hdrs);
  const bool segment = f.size() > 14 + uplink_->mtu();
  const bool v6 = p->l3 == packet::L3::ipv6;
  if (segment && !uplink_->takes_gso(v6)) {  // a netfront whose backend takes no GSO: cut here
    (void)packet::segment_tcp(f, *p, std::min<std::size_t>(uplink_->mtu(), firewall::kVmMtu), segment_,
                              [&](std::span<const std::byte> s) { send_uplink(s); });
    ++segmented_;
    return;
  }
  send_uplink(f, UplinkOffload{segment ? (gso_size > 0 ? std::min(gso_size, room) : room) : uint16_t(0),
                             v6, p->l4_off, uint16_t(hdrs)});
  if (segment) ++gso_to_uplink_;
}

// A VM's link carries at most kVmMtu (1500) bytes of IP packet. A TCP super-frame (from an uplink
// whose peer does TSO/GSO, or from another VM) goes whole with GSO metadata to a VM that
// offered GSO, and is cut into segments here for one that did not; a long frame that is not
// TCP is dropped and counted.
void Dataplane::to_vif(netback::VifId v, std::span<const std::byte> f) {
  if (captures_.active() && !uplink_frame_.empty()) captures_.frame(Tap::from_uplink_to_vm, v, uplink_frame_);
  if (f.size() <= 14 + firewall::kVmMtu) return deliver(v, f);
  const auto parsed = packet::parse(f);
  const auto* p = std::get_if<packet::Parsed>(&parsed);
  const std::size_t hdrs = p && firewall::is_super_frame(*p) ? p->l4_off + packet::tcp_header_len(f, *p) : 0;
  if (hdrs == 0 || hdrs >= 14 + firewall::kVmMtu) {
    count(firewall::DropReason::too_big_for_vm, v.slot < vifs_.size() ? &vifs_[v.slot] : nullptr, f);
    return;
  }
  const uint8_t type = p->l3 == packet::L3::ipv6 ? netback::kGsoTcpV6 : netback::kGsoTcpV4;
  const netback::VifId nid{v.slot - 1, v.gen};
  if (v.slot != kSelf.slot && nb_ && f.size() <= 65535 && nb_->takes_gso(nid, type)) {
    if (captures_.active()) captures_.frame(Tap::to_vm, v, f);
    // The uplink's frame, rewritten in place, stays where it is until the uplink's pass ends
    // (holds_frames): its copy to the guest is made then, with the pass's others.
    const auto at = reinterpret_cast<uintptr_t>(f.data()), in = reinterpret_cast<uintptr_t>(held_frame_.data());
    const bool held = !held_frame_.empty() && at >= in && at + f.size() <= in + held_frame_.size();
    (void)nb_->to_guest(nid, f, netback::Gso{uint16_t(14 + firewall::kVmMtu - hdrs), type}, held);
    ++gso_to_vms_;
    return;
  }
  (void)packet::segment_tcp(f, *p, firewall::kVmMtu, segment_, [&](std::span<const std::byte> s) { deliver(v, s); });
  ++segmented_;
}

void Dataplane::deliver(netback::VifId v, std::span<const std::byte> f) {
  if (captures_.active()) captures_.frame(Tap::to_vm, v, f);
  if (v.slot == kSelf.slot) {
    if (self_) self_->send(f);
  } else if (nb_) {
    (void)nb_->to_guest(netback::VifId{v.slot - 1, v.gen}, f);
  }
}

}  // namespace xfw::daemon
