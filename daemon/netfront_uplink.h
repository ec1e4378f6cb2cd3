// daemon/netfront_uplink.h — the uplink as xfwd's own netfront toward sys-net (daemon/uplink.h,
// netfront/netfront.h): the default in a Xen driver domain, where no kernel network driver
// then faces sys-net's backend.
//
// It has its own XenStore connection, gntshr handle and event-channel handle, so its fds are
// read apart from netback's. While the backend is away (sys-net restarting) frames to the
// uplink are dropped and counted (tx_down); the AppVMs' vifs stay up, and the link comes back
// by itself.
#pragma once

#include <memory>

#include "daemon/uplink.h"
#include "netfront/netfront.h"
#include "xen/gntshr.h"

namespace xfw::daemon {

class NetfrontUplink final : public Uplink {
 public:
  struct Handles {
    std::unique_ptr<xen::XenStore> xs;
    std::unique_ptr<xen::GrantShare> share;
    std::unique_ptr<xen::EventChannels> evt;
  };
  // Finds the vif and starts the handshake; nullptr and `err` if there is no vif to drive.
  static std::unique_ptr<NetfrontUplink> open(Handles h, netfront::NetfrontConfig cfg, std::string* err);

  void attach(EventLoop& loop, Receiver rx, std::function<void()> pass_end) override;
  // A pass's frames stay in the netfront's receive arena until the pass ends.
  bool holds_frames() const override { return true; }
  [[nodiscard]] const packet::MacAddr& mac() const override { return nf_->mac(); }
  [[nodiscard]] std::string name() const override;
  [[nodiscard]] bool up() const override { return nf_->connected(); }
  [[nodiscard]] uint32_t mtu() const override { return 1500; }
  [[nodiscard]] bool takes_gso(bool v6) const override { return nf_->takes_gso(v6); }
  [[nodiscard]] UplinkCounters counters() const override;
  [[nodiscard]] nlohmann::json status() const override;
  void send(std::span<const std::byte> frame, const std::optional<UplinkOffload>& offload = std::nullopt) override;
  void flush() override { nf_->flush(); }

  [[nodiscard]] netfront::Netfront& netfront() { return *nf_; }

 private:
  explicit NetfrontUplink(Handles h) : h_(std::move(h)) {}
  void pass(EventLoop& loop);

  Handles h_;
  std::unique_ptr<netfront::Netfront> nf_;
  bool pass_posted_ = false;
};

}  // namespace xfw::daemon
