// daemon/sim_tap.h — simulated AppVMs whose network is a TAP device (the testbed, issue 3).
//
//   xfwd --xen=sim --sim-tap work=10.137.0.5 --sim-tap untrusted=10.137.0.6 --config tb.toml
// For each NAME=IPV4[,IPV6][@NETNS] it creates a guest domain the way libxl does (name, vif with `ip`, Qubes'
// MAC) driven by the simulated Linux netfront, and a TAP device "xt-NAME". What the kernel
// sends into the TAP goes out of the guest's netfront into xfwd's netback; what netback gives
// the guest comes out of the TAP. Move the TAP into a network namespace and real tools (curl,
// ping, dig) act as the AppVM (tests/testbed/). Nothing here runs with --xen=real.
//
//   xfwd --xen=sim --sim-uplink eth0@/run/netns/tb-net --config tb.toml   ([uplink] kind = "netfront")
// makes a simulated sys-net too: domain 2, the backend of xfwd's uplink vif, driven by the
// simulated Linux netback (xen/sim/netback.h), bridged to the TAP "IFNAME". xfwd's own netfront
// is then the uplink, as in a Qubes sys-firewall, and the namespace holding the TAP is sys-net.
#pragma once

#include <utility>  // before Asio: Boost 1.74 uses std::exchange without including it
#include <boost/asio.hpp>

#include <memory>
#include <string>
#include <vector>

#include "xen/sim/netback.h"
#include "xen/sim/netfront.h"
#include "xen/sim/toolstack.h"

namespace xfw::daemon {

struct SimTapSpec {
  std::string name, ip;
  std::string netns;  // "": xfwd creates the TAP; else the network namespace (a path) that has it
};

class SimTaps {
 public:
  // Parses "NAME=IPV4[,IPV6][@NETNS]"; nullopt with a message on error. With @NETNS (a path such
  // as /run/netns/tb-work) the TAP "xt-NAME" already exists there, made persistent (`ip tuntap
  // add`): it and the namespace's set-up outlive xfwd, as a guest's vif outlives a restart of its
  // backend.
  static std::optional<SimTapSpec> parse_spec(const std::string& s, std::string* err);
  SimTaps(boost::asio::io_context& io, xen::sim::SimHypervisor& hv, xen::DomId backend);
  ~SimTaps();
  bool add(const SimTapSpec& spec, std::string* err);
  // The simulated sys-net behind xfwd's uplink vif, on the TAP spec.name (spec.ip unused).
  bool add_uplink(const SimTapSpec& spec, std::string* err);
  static constexpr xen::DomId kSysNet{2};
  void start();
  void stop();
  [[nodiscard]] std::size_t connected() const;
  [[nodiscard]] uint64_t dropped() const { return dropped_; }  // frames the ring had no room for

 private:
  struct Guest {
    std::string ifname;
    std::unique_ptr<xen::sim::SimNetfront> front;  // an AppVM's, or
    std::unique_ptr<xen::sim::SimNetback> back;    // sys-net's
    std::unique_ptr<boost::asio::posix::stream_descriptor> tap, evt;
    void step() { front ? (void)front->step() : (void)back->step(); }
    bool send(std::span<const std::byte> f) {
      return front ? front->connected() && front->send(f) : back->connected() && back->send(f);
    }
    std::optional<std::vector<std::byte>> receive() {
      if (front) return front->receive();
      auto f = back->receive();
      if (!f) return std::nullopt;
      return std::move(f->bytes);
    }
  };
  void wait_tap(Guest& g);
  void wait_evt(Guest& g);
  void deliver(Guest& g);
  void tick();

  boost::asio::io_context& io_;
  xen::sim::SimHypervisor& hv_;
  xen::DomId backend_;
  boost::asio::steady_timer timer_;
  std::vector<std::unique_ptr<Guest>> guests_;
  std::vector<std::byte> buf_;
  uint64_t dropped_ = 0;
  bool stopped_ = false;
};

}  // namespace xfw::daemon
