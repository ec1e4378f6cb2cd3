// xfwd — the xfw daemon: attaches to every vif of every guest and moves their frames.
//
//   xfwd --xen=real --config /etc/xfw/xfwd.toml
//   xfwd --xen=sim --sim-guests 3 --sim-duration 5     # simulated hypervisor and guests
//
// Exit status: 0 after a clean stop (SIGINT/SIGTERM or --sim-duration), 2 for a bad command
// line or configuration, or when the Xen devices cannot be opened (the message says which).
#include <spdlog/spdlog.h>

#include <utility>  // before Asio (Boost 1.74)
#include <CLI/CLI.hpp>
#include <boost/asio.hpp>
#include <cstdio>
#include <memory>
#include <optional>

#include "daemon/config.h"
#include "daemon/event_loop.h"
#include "daemon/frame_counter.h"
#include "daemon/sim_guests.h"
#include "xen/real/real.h"
#include "xen/sim/hypervisor.h"
#include "xen/sim/toolstack.h"

using namespace xfw;

namespace {

int fail(const std::string& msg) {
  std::fprintf(stderr, "xfwd: %s\n", msg.c_str());
  return 2;
}

void print_summary(const netback::Netback& nb, const daemon::FrameCounter& counter) {
  std::printf("%-6s %-8s %-16s %-10s %12s %14s\n", "domid", "name", "ip", "state",
              "frames-in", "bytes-in");
  uint64_t frames = 0;
  for (const auto& d : nb.devices()) {
    std::printf("%-6u %-8s %-16s %-10s %12llu %14llu\n", unsigned(d.domid.value()),
                d.name.empty() ? "-" : d.name.c_str(), d.ips.empty() ? "-" : d.ips[0].c_str(),
                xen::to_string(d.backend_state),
                static_cast<unsigned long long>(d.counters.from_guest_packets),
                static_cast<unsigned long long>(d.counters.from_guest_bytes));
    frames += d.counters.from_guest_packets;
  }
  uint64_t counted = 0;
  for (const auto& v : counter.vifs()) counted += v.frames;
  std::printf("total: %zu vifs connected, %llu frames from guests (%llu reached the pipeline)\n",
              nb.connected_vifs(), static_cast<unsigned long long>(frames),
              static_cast<unsigned long long>(counted));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"xfwd: hardened userspace Xen network backend and firewall"};
  std::string xen_mode = "real", config_path = "/etc/xfw/xfwd.toml", log_level;
  int sim_guests = 0;
  double sim_duration = 0;
  auto* cfg_opt = app.add_option("--config", config_path, "configuration file (TOML)");
  app.add_option("--xen", xen_mode, "hypervisor: real or sim (simulated, for tests and demos)")
      ->check(CLI::IsMember({"real", "sim"}));
  app.add_option("--log-level", log_level, "trace, debug, info, warn or error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  app.add_option("--sim-guests", sim_guests, "with --xen=sim: simulated guests to create")
      ->check(CLI::Range(0, 1000));
  app.add_option("--sim-duration", sim_duration, "with --xen=sim: stop after SECONDS")
      ->check(CLI::PositiveNumber);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (xen_mode != "sim" && (sim_guests > 0 || sim_duration > 0))
    return fail("--sim-guests and --sim-duration need --xen=sim");

  const auto loaded = daemon::load_config(config_path, cfg_opt->count() == 0);
  if (const auto* err = std::get_if<daemon::ConfigError>(&loaded))
    return fail("config " + config_path + ": " + err->message);
  daemon::Config cfg = std::get<daemon::Config>(loaded);
  spdlog::set_level(spdlog::level::from_str(log_level.empty() ? cfg.log_level : log_level));
  cfg.netback.log = [](netback::LogLevel l, const std::string& m) {
    static constexpr spdlog::level::level_enum kMap[] = {
        spdlog::level::debug, spdlog::level::info, spdlog::level::warn, spdlog::level::err};
    spdlog::log(kMap[int(l)], "{}", m);
  };

  // The hypervisor: real devices, or the simulated one acting as driver domain 1.
  std::optional<xen::real::Handles> real;
  std::unique_ptr<xen::sim::SimHypervisor> hv;
  std::unique_ptr<xen::XenStore> xs;
  std::unique_ptr<xen::GrantTable> gnt;
  std::unique_ptr<xen::EventChannels> evt;
  const xen::DomId sim_backend{1};
  if (xen_mode == "real") {
    std::string err;
    real = xen::real::open(&err);
    if (!real) return fail(err);
    xs = std::move(real->xs);
    gnt = std::move(real->gnt);
    evt = std::move(real->evt);
  } else {
    hv = std::make_unique<xen::sim::SimHypervisor>();
    xen::sim::SimToolstack(*hv).create_domain(sim_backend, "sys-firewall");
    xs = std::make_unique<xen::sim::SimXenStore>(*hv, sim_backend);
    gnt = std::make_unique<xen::sim::SimGrantTable>(*hv, sim_backend);
    evt = std::make_unique<xen::sim::SimEventChannels>(*hv, sim_backend);
  }

  boost::asio::io_context io;
  daemon::FrameCounter counter;
  netback::Netback nb(*xs, *gnt, *evt, counter, cfg.netback);
  std::string err;
  if (!nb.start(&err)) return fail(err);
  daemon::EventLoop loop(io, *xs, *evt, nb);
  std::unique_ptr<daemon::SimGuests> guests;
  if (sim_guests > 0) guests = std::make_unique<daemon::SimGuests>(io, *hv, sim_backend, sim_guests);

  auto stop = [&] {
    loop.stop();
    if (guests) guests->stop();
    io.stop();
  };
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code ec, int sig) {
    if (!ec) spdlog::info("signal {}: stopping", sig);
    stop();
  });
  boost::asio::steady_timer duration(io);
  if (sim_duration > 0) {
    duration.expires_after(std::chrono::milliseconds(int64_t(sim_duration * 1000)));
    duration.async_wait([&](boost::system::error_code ec) {
      if (!ec) stop();
    });
  }
  spdlog::info("xfwd started ({} hypervisor), watching {}", xen_mode, nb.backend_root());
  loop.start();
  if (guests) guests->start();
  io.run();
  if (xen_mode == "sim") print_summary(nb, counter);
  spdlog::info("xfwd stopped");
  return 0;
}
