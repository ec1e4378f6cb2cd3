// daemon/frame_counter.h — the FrameSink xfwd uses until the firewall pipeline exists.
//
// It counts what each vif sends and drops it: no frame is forwarded anywhere. The firewall /
// NAT pipeline (ARCHITECTURE.md, "The path of a frame") replaces this class at the same place:
// Netback hands it every frame a guest sends; it answers through Netback::to_guest().
#pragma once

#include <spdlog/spdlog.h>

#include <cstdint>
#include <vector>

#include "netback/frames.h"

namespace xfw::daemon {

class FrameCounter final : public netback::FrameSink {
 public:
  struct PerVif {
    netback::VifInfo info;
    bool up = false;
    uint64_t frames = 0, bytes = 0;
  };
  void vif_up(const netback::VifInfo& v) override {
    if (v.id.slot >= vifs_.size()) vifs_.resize(v.id.slot + 1);
    vifs_[v.id.slot] = PerVif{v, true, 0, 0};
  }
  void vif_down(netback::VifId v) override {
    if (v.slot < vifs_.size()) vifs_[v.slot].up = false;
  }
  void from_guest(netback::VifId v, std::span<const std::byte> f, netback::TxFlags) override {
    if (v.slot < vifs_.size()) {
      ++vifs_[v.slot].frames;
      vifs_[v.slot].bytes += f.size();
    }
  }
  [[nodiscard]] const std::vector<PerVif>& vifs() const { return vifs_; }

 private:
  std::vector<PerVif> vifs_;  // by VifId slot
};

}  // namespace xfw::daemon
