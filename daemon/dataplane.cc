#include "daemon/dataplane.h"

namespace xfw::daemon {

Dataplane::Dataplane(firewall::PipelineConfig cfg, uint64_t seed)
    : pipeline_(std::move(cfg), *this, seed) {}

void Dataplane::vif_up(const netback::VifInfo& v) {
  netback::VifInfo info = v;
  info.id = to_pipeline(v.id);
  if (info.id.slot >= vifs_.size()) vifs_.resize(info.id.slot + 1);
  vifs_[info.id.slot] = VifStats{info, true, 0, 0};
  pipeline_.vif_up(info);
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

void Dataplane::from_self(std::span<const std::byte> f) {
  count(pipeline_.from_client(kSelf, f, {}, now_ms()), vifs_.empty() ? nullptr : &vifs_[0]);
}

void Dataplane::count(std::optional<firewall::DropReason> r, VifStats* v) {
  if (!r) {
    if (v) ++v->forwarded;
    return;
  }
  ++drops_[std::size_t(*r)];
  if (v) ++v->dropped;
}

void Dataplane::from_guest(netback::VifId v, std::span<const std::byte> f, netback::TxFlags fl) {
  const auto id = to_pipeline(v);
  VifStats* s = id.slot < vifs_.size() ? &vifs_[id.slot] : nullptr;
  count(pipeline_.from_client(id, f, fl, now_ms()), s);
}

void Dataplane::from_uplink(std::span<const std::byte> f, bool csum_blank) {
  const auto r = pipeline_.from_uplink(f, now_ms(), csum_blank);
  if (!r) ++uplink_forwarded_;
  count(r, nullptr);
}

void Dataplane::to_uplink(std::span<const std::byte> f) {
  if (uplink_) uplink_->send(f);
}

void Dataplane::to_vif(netback::VifId v, std::span<const std::byte> f) {
  if (v.slot == kSelf.slot) {
    if (self_) self_->send(f);
  } else if (nb_) {
    (void)nb_->to_guest(netback::VifId{v.slot - 1, v.gen}, f);
  }
}

}  // namespace xfw::daemon
