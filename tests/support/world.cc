#include "tests/support/world.h"

#include <stdexcept>

namespace xfw::testing {

namespace {
netback::NetbackConfig with_log(netback::NetbackConfig cfg, std::vector<std::string>* log) {
  if (!cfg.log) cfg.log = [log](netback::LogLevel, const std::string& m) { log->push_back(m); };
  return cfg;
}
}  // namespace

World::World(netback::NetbackConfig cfg_in, DomId be)
    : backend(be),
      be_xs(hv, be),
      be_gnt(hv, be),
      be_evt(hv, be),
      cfg(with_log(std::move(cfg_in), &log)),
      nb_storage(std::in_place, be_xs, be_gnt, be_evt, sink, cfg),
      nb(*nb_storage) {
  ts.create_domain(be, "sys-firewall");
  sink.nb = &nb;
  std::string err;
  if (!nb.start(&err)) throw std::runtime_error(err);
}

World::~World() = default;

xen::sim::SimNetfront& World::add_guest(DomId d, const std::string& name, const std::string& ip,
                                        xen::sim::SimNetfrontOptions opt, uint32_t devid,
                                        std::optional<std::string> rate) {
  if (!hv_has_domain(d)) ts.create_domain(d, name);
  xen::sim::SimVifSpec spec;
  spec.backend = backend;
  spec.frontend = d;
  spec.devid = devid;
  spec.ip = ip;
  spec.rate = std::move(rate);
  ts.add_vif(spec);
  auto fe = std::make_unique<xen::sim::SimNetfront>(hv, d, backend, devid, opt);
  auto& ref = *fe;
  fronts[{d.value(), devid}] = std::move(fe);
  return ref;
}

bool World::hv_has_domain(DomId d) {
  return ts.xs().read(xen::kNoTxn, "/local/domain/" + std::to_string(d.value()) + "/name")
      .has_value();
}

bool World::try_settle(int rounds) {
  for (int round = 1; round <= rounds; ++round) {
    bool did = false;
    if (be_xs.pending_watch_events() > 0) {
      nb.on_xenstore(now);
      did = true;
    }
    if (be_evt.has_pending()) {
      nb.on_events(now);
      did = true;
    }
    if (nb.has_work()) {
      nb.poll(now);
      did = true;
    }
    for (auto& [k, fe] : fronts) did |= fe->step();
    if (!did) {
      last_rounds_ = round;
      return true;
    }
  }
  return false;
}

int World::settle(int max_rounds) {
  if (!try_settle(max_rounds)) throw std::runtime_error("World::settle: no quiescence");
  return last_rounds_;
}

void World::restart_backend() {
  nb_storage.reset();
  nb_storage.emplace(be_xs, be_gnt, be_evt, sink, cfg);  // same storage: `nb` stays valid
  std::string err;
  if (!nb.start(&err)) throw std::runtime_error(err);
}

void World::advance(std::chrono::milliseconds d) {
  now += d;
  nb.on_timer(now);
}

std::optional<netback::DeviceStatus> World::status(DomId d, uint32_t devid) const {
  for (auto& s : nb.devices()) {
    if (s.domid == d && s.devid == devid) return s;
  }
  return std::nullopt;
}

std::optional<std::string> World::backend_key(DomId d, const std::string& key, uint32_t devid) {
  return ts.xs().read(xen::kNoTxn,
                      xen::sim::SimToolstack::backend_path(backend, d, devid) + "/" + key);
}

netback::VifId World::vif_id(DomId d, uint32_t devid) const {
  for (auto it = sink.up.rbegin(); it != sink.up.rend(); ++it) {
    if (it->domid == d && it->devid == devid) return it->id;
  }
  throw std::runtime_error("vif never came up");
}

std::vector<std::byte> make_frame(std::size_t len, uint8_t seed) {
  std::vector<std::byte> f(len);
  for (std::size_t i = 0; i < len; ++i) f[i] = std::byte(uint8_t(seed + i * 7));
  return f;
}

}  // namespace xfw::testing
