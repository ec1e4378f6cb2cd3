// tests/support/world.h — a whole simulated system in one object: the simulated hypervisor,
// a libxl-like toolstack, xfw's Netback in a driver domain (domid 1 by default, so XenStore
// permissions apply to it as to a real driver domain), and any number of simulated netfronts.
//
//   World w;
//   auto& fe = w.add_guest(DomId{5}, "work", "10.137.0.5");
//   w.settle();                       // run everything until nothing moves
//   fe.send(frame); w.settle();       // w.sink.frames now holds the frame
#pragma once

#include <map>
#include <memory>
#include <vector>

#include "netback/netback.h"
#include "xen/sim/hypervisor.h"
#include "xen/sim/netfront.h"
#include "xen/sim/toolstack.h"

namespace xfw::testing {

using xen::DomId;

// Records everything netback reports; optionally reflects frames back to their sender.
class RecordingSink : public netback::FrameSink {
 public:
  void vif_up(const netback::VifInfo& v) override { up.push_back(v); }
  void vif_down(netback::VifId v) override { down.push_back(v); }
  void from_guest(netback::VifId v, std::span<std::byte> f, netback::TxFlags fl) override {
    ++count;
    if (keep) frames.push_back({v, std::vector<std::byte>(f.begin(), f.end()), fl});
    if (echo && nb) nb->to_guest(v, f);
  }
  struct Frame {
    netback::VifId vif;
    std::vector<std::byte> data;
    netback::TxFlags flags;
  };
  std::vector<netback::VifInfo> up;
  std::vector<netback::VifId> down;
  std::vector<Frame> frames;
  uint64_t count = 0;
  bool keep = true;
  bool echo = false;
  netback::Netback* nb = nullptr;
};

class World {
 public:
  explicit World(netback::NetbackConfig cfg = {}, DomId backend = DomId{1});
  ~World();

  // Creates the domain, its vif in XenStore and its netfront. Does not settle.
  xen::sim::SimNetfront& add_guest(DomId d, const std::string& name, const std::string& ip,
                                   xen::sim::SimNetfrontOptions opt = {}, uint32_t devid = 0,
                                   std::optional<std::string> rate = std::nullopt);
  xen::sim::SimNetfront& front(DomId d, uint32_t devid = 0) { return *fronts.at({d.value(), devid}); }
  void remove_front(DomId d, uint32_t devid = 0) { fronts.erase({d.value(), devid}); }
  bool hv_has_domain(DomId d);

  // Drives the backend and every frontend until nothing happens any more. Returns rounds used;
  // throws if still busy after max_rounds.
  int settle(int max_rounds = 10000);
  // The same for at most `rounds` rounds; false if still busy (a guest can keep netback busy
  // forever, one bounded pass at a time).
  bool try_settle(int rounds);
  void advance(std::chrono::milliseconds d);  // moves the clock and fires netback timers
  // Stops the backend the way a killed xfwd stops (rings unmapped, ports closed, XenStore
  // left as it was) and starts a new one.
  void restart_backend();

  std::optional<netback::DeviceStatus> status(DomId d, uint32_t devid = 0) const;
  std::optional<std::string> backend_key(DomId d, const std::string& key, uint32_t devid = 0);
  netback::VifId vif_id(DomId d, uint32_t devid = 0) const;  // from the sink's vif_up records

  DomId backend;
  xen::sim::SimHypervisor hv;
  xen::sim::SimToolstack ts{hv};
  xen::sim::SimXenStore be_xs;
  xen::sim::SimGrantTable be_gnt;
  xen::sim::SimEventChannels be_evt;
  std::map<std::pair<uint16_t, uint32_t>, std::unique_ptr<xen::sim::SimNetfront>> fronts;
  RecordingSink sink;
  std::vector<std::string> log;
  netback::NetbackConfig cfg;
  std::optional<netback::Netback> nb_storage;
  netback::Netback& nb;  // stays valid across restart_backend()
  netback::TimePoint now{std::chrono::seconds(1000)};

 private:
  int last_rounds_ = 0;
};

std::vector<std::byte> make_frame(std::size_t len, uint8_t seed = 1);

}  // namespace xfw::testing
