#include "daemon/dataplane.h"

namespace xfw::daemon {

Dataplane::Dataplane(firewall::PipelineConfig cfg, uint64_t seed)
    : pipeline_(std::move(cfg), *this, seed) {}

void Dataplane::vif_up(const netback::VifInfo& v) {
  if (v.id.slot >= vifs_.size()) vifs_.resize(v.id.slot + 1);
  vifs_[v.id.slot] = VifStats{v, true, 0, 0};
  pipeline_.vif_up(v);
}

void Dataplane::vif_down(netback::VifId v) {
  if (v.slot < vifs_.size()) vifs_[v.slot].up = false;
  pipeline_.vif_down(v);
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
  VifStats* s = v.slot < vifs_.size() ? &vifs_[v.slot] : nullptr;
  count(pipeline_.from_client(v, f, fl, now_ms()), s);
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
  if (nb_) (void)nb_->to_guest(v, f);
}

}  // namespace xfw::daemon
