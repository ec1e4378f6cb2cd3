// daemon/self_tap.h — the firewall VM's own network: a TAP device that xfwd treats as one more
// client (ARCHITECTURE.md). xfwd owns the uplink, so the VM's own processes (updates, its own
// DNS lookups) reach the network through this TAP, the pipeline and its rules, like an AppVM.
//
// open() creates the TAP, gives the kernel side the address (/32), brings it up, and routes
// the gateway (on-link) and the default route through it, as a Qubes AppVM's network is set
// up. Rules for it are keyed "self" (or its address).
//   [self]
//   interface = "xfw0"
//   address = "10.137.255.254"
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "packet/addr.h"

namespace xfw::daemon {

class SelfTap {
 public:
  static std::unique_ptr<SelfTap> open(const std::string& name, packet::Ipv4Addr addr,
                                       packet::Ipv4Addr gateway, std::string* err);
  ~SelfTap();
  SelfTap(const SelfTap&) = delete;
  SelfTap& operator=(const SelfTap&) = delete;

  [[nodiscard]] int fd() const { return fd_; }
  [[nodiscard]] const packet::MacAddr& mac() const { return mac_; }
  // Reads every waiting frame (at most 64) and hands each to `f`.
  void receive(const std::function<void(std::span<std::byte>)>& f);  // each frame in its buffer, to rewrite
  void send(std::span<const std::byte> frame);
  [[nodiscard]] uint64_t write_errors() const { return write_errors_; }

 private:
  SelfTap() = default;
  int fd_ = -1;
  packet::MacAddr mac_;
  std::vector<std::byte> buf_;
  uint64_t write_errors_ = 0;
};

}  // namespace xfw::daemon
