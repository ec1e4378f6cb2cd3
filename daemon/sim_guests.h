// daemon/sim_guests.h — simulated AppVMs for `xfwd --xen=sim --sim-guests N` (demo and tests).
//
// Creates N guest domains (domids 10.., names vm1.., addresses 10.137.0.10..) with a vif each,
// the way libxl does, and drives their Linux-like netfronts from a 1 ms timer: every tick each
// connected guest sends a few 64-byte frames. Nothing here runs with --xen=real.
#pragma once

#include <utility>  // before Asio: Boost 1.74 uses std::exchange without including it
#include <boost/asio.hpp>

#include <memory>
#include <vector>

#include "xen/sim/netfront.h"
#include "xen/sim/toolstack.h"

namespace xfw::daemon {

class SimGuests {
 public:
  SimGuests(boost::asio::io_context& io, xen::sim::SimHypervisor& hv, xen::DomId backend, int n);
  void start();
  void stop() { timer_.cancel(); }
  [[nodiscard]] std::size_t connected() const;

 private:
  void tick();
  boost::asio::steady_timer timer_;
  std::vector<std::unique_ptr<xen::sim::SimNetfront>> fronts_;
  std::vector<std::byte> frame_;
};

}  // namespace xfw::daemon
