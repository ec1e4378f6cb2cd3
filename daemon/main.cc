// xfwd — the xfw daemon: attaches to every vif of every guest and moves their frames.
//
//   xfwd --xen=real --config /etc/xfw/xfwd.toml
//   xfwd --xen=sim --sim-guests 3 --sim-duration 5     # simulated hypervisor and guests
//   xfwd --xen=sim --sim-tap work=10.137.0.5 --config tb.toml   # the testbed: guests on TAPs
//   xfwd --xen=sim --sim-uplink net --config nf.toml    # and sys-net on a TAP, behind xfwd's netfront
//
// Exit status: 0 after a clean stop (SIGINT/SIGTERM or --sim-duration), 2 for a bad command
// line or configuration, or when the Xen devices cannot be opened (the message says which).
#include <spdlog/spdlog.h>

#include <utility>  // before Asio (Boost 1.74)
#include <CLI/CLI.hpp>
#include <boost/asio.hpp>
#include <grp.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <sstream>
#include <optional>

#include "daemon/config.h"
#include "daemon/control.h"
#include "daemon/control_api.h"
#include "daemon/rules_store.h"
#include "daemon/service.h"
#include "daemon/event_loop.h"
#include "daemon/dataplane.h"
#include "daemon/qubesdb_link.h"
#include "daemon/sim_guests.h"
#include "daemon/sim_tap.h"
#include "daemon/state_file.h"
#include "daemon/netfront_uplink.h"
#include "daemon/packet_uplink.h"
#include "xen/real/real.h"
#include "xen/sim/hypervisor.h"
#include "xen/sim/toolstack.h"

using namespace xfw;

namespace {

int fail(const std::string& msg) {
  std::fprintf(stderr, "xfwd: %s\n", msg.c_str());
  return 2;
}

void print_summary(const netback::Netback& nb, const daemon::Dataplane& dp) {
  std::printf("%-6s %-10s %-16s %-10s %12s %12s %12s\n", "domid", "name", "ip", "state",
              "frames-in", "forwarded", "dropped");
  uint64_t frames = 0;
  for (const auto& d : nb.devices()) {
    uint64_t fwd = 0, drop = 0;
    for (const auto& v : dp.vifs())
      if (v.info.domid == d.domid && v.info.devid == d.devid) fwd = v.forwarded, drop = v.dropped;
    std::printf("%-6u %-10s %-16s %-10s %12llu %12llu %12llu\n", unsigned(d.domid.value()),
                d.name.empty() ? "-" : d.name.c_str(), d.ips.empty() ? "-" : d.ips[0].c_str(),
                xen::to_string(d.backend_state),
                static_cast<unsigned long long>(d.counters.from_guest_packets),
                static_cast<unsigned long long>(fwd), static_cast<unsigned long long>(drop));
    frames += d.counters.from_guest_packets;
  }
  if (!dp.vifs().empty() && dp.vifs()[0].up)
    std::printf("%-6s %-10s %-16s %-10s %12s %12llu %12llu\n", "-", "self", dp.vifs()[0].info.ips.v4[0].str().c_str(),
                "TAP", "-", static_cast<unsigned long long>(dp.vifs()[0].forwarded),
                static_cast<unsigned long long>(dp.vifs()[0].dropped));
  std::printf("total: %zu vifs connected, %llu frames from guests, %llu from the uplink forwarded\n",
              nb.connected_vifs(), static_cast<unsigned long long>(frames),
              static_cast<unsigned long long>(dp.uplink_forwarded()));
  std::printf("TCP super-frames: %llu cut into segments for a VM, %llu to VMs as GSO, %llu to the uplink as GSO\n",
              static_cast<unsigned long long>(dp.segmented()), static_cast<unsigned long long>(dp.gso_to_vms()),
              static_cast<unsigned long long>(dp.gso_to_uplink()));
  if (const auto* up = dp.uplink()) {
    const auto c = up->counters();
    std::printf("uplink: %s %s, %llu frames in, %llu out, %llu dropped\n", up->name().c_str(), up->up() ? "up" : "down",
                static_cast<unsigned long long>(c.rx_frames), static_cast<unsigned long long>(c.tx_frames),
                static_cast<unsigned long long>(c.rx_truncated + c.tx_errors));
    if (const auto st = up->status(); st.contains("drops"))
      for (const auto& [reason, n] : st["drops"].items()) std::printf("uplink dropped %-21s %llu\n", reason.c_str(), n.get<unsigned long long>());
  }
  for (std::size_t r = 0; r < daemon::kDropReasons; ++r)
    if (dp.drops()[r])
      std::printf("dropped %-28s %llu\n", firewall::name(firewall::DropReason(r)),
                  static_cast<unsigned long long>(dp.drops()[r]));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"xfwd: hardened userspace Xen network backend and firewall"};
  std::string xen_mode = "real", config_path = "/etc/xfw/xfwd.toml", log_level;
  int sim_guests = 0;
  double sim_duration = 0;
  std::vector<std::string> sim_taps;
  std::string sim_uplink;
  std::optional<std::string> control_socket_opt, state_dir_opt, connections_opt;
  bool check_config = false;
  auto* cfg_opt = app.add_option("--config", config_path, "configuration file (TOML)");
  app.add_option("--xen", xen_mode, "hypervisor: real or sim (simulated, for tests and demos)")
      ->check(CLI::IsMember({"real", "sim"}));
  app.add_option("--log-level", log_level, "trace, debug, info, warn or error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  app.add_option("--sim-guests", sim_guests, "with --xen=sim: simulated guests to create")
      ->check(CLI::Range(0, 1000));
  app.add_option("--sim-duration", sim_duration, "with --xen=sim: stop after SECONDS")
      ->check(CLI::PositiveNumber);
  app.add_flag("--check-config", check_config, "check the configuration file, then exit (0: valid)");
  app.add_option("--control-socket", control_socket_opt, "control socket path (\"\": none)");
  app.add_option("--state-dir", state_dir_opt, "state directory (\"\": rules are not kept)");
  app.add_option("--connections-file", connections_opt,
                 "connection state kept across restarts (\"\": none; default /run/xfw/connections with --xen=real)");
  app.add_option("--sim-tap", sim_taps,
                 "with --xen=sim: a guest NAME=IPV4[,IPV6][@NETNS] whose network is the TAP device xt-NAME (in network namespace NETNS)");
  app.add_option("--sim-uplink", sim_uplink,
                 "with --xen=sim and [uplink] kind = \"netfront\": a simulated sys-net behind xfwd's netfront, "
                 "bridged to the TAP device IFNAME (in network namespace NETNS): IFNAME[@NETNS]");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (xen_mode != "sim" && (sim_guests > 0 || sim_duration > 0 || !sim_taps.empty() || !sim_uplink.empty()))
    return fail("--sim-guests, --sim-tap, --sim-uplink and --sim-duration need --xen=sim");
  std::vector<daemon::SimTapSpec> tap_specs;
  for (const auto& t : sim_taps) {
    std::string err;
    const auto spec = daemon::SimTaps::parse_spec(t, &err);
    if (!spec) return fail(err);
    tap_specs.push_back(*spec);
  }

  const auto loaded = daemon::load_config(config_path, cfg_opt->count() == 0);
  if (const auto* err = std::get_if<daemon::ConfigError>(&loaded))
    return fail("config " + config_path + ": " + err->message);
  daemon::Config cfg = std::get<daemon::Config>(loaded);
  if (!sim_uplink.empty()) {
    const std::string name = sim_uplink.substr(0, sim_uplink.find('@'));
    if (!cfg.uplink.netfront) return fail("--sim-uplink needs [uplink] kind = \"netfront\" in the config");
    if (name.empty() || name.size() > 12 || name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos)
      return fail("--sim-uplink " + sim_uplink + ": IFNAME must be 1 to 12 of [a-z0-9-]");
  }
  if (check_config) {
    std::printf("xfwd: config %s is valid\n", config_path.c_str());
    return 0;
  }
  const std::string control_socket = control_socket_opt.value_or(cfg.control_socket);
  const std::string state_dir = state_dir_opt.value_or(cfg.state_dir);
  const std::string connections_file =
      connections_opt.value_or(cfg.connections_file.value_or(xen_mode == "real" ? "/run/xfw/connections" : ""));
  spdlog::set_level(spdlog::level::from_str(log_level.empty() ? cfg.log_level : log_level));
  daemon::use_journal();
  cfg.netback.log = [](netback::LogLevel l, const std::string& m) {
    static constexpr spdlog::level::level_enum kMap[] = {
        spdlog::level::debug, spdlog::level::info, spdlog::level::warn, spdlog::level::err};
    spdlog::log(kMap[int(l)], "{}", m);
  };
  if (!cfg.resolvers_set) {
    std::ifstream rc("/etc/resolv.conf");
    std::ostringstream text;
    text << rc.rdbuf();
    cfg.pipeline.resolvers = daemon::resolv_conf_nameservers(text.str());
  }
  if (cfg.accept_without_rules) cfg.pipeline.default_rules = {firewall::accept_all()};

  std::unique_ptr<daemon::SelfTap> self_tap;
  if (!cfg.self.interface.empty()) {
    std::string err;
    self_tap = daemon::SelfTap::open(cfg.self.interface, cfg.self.address, cfg.pipeline.gateway, &err);
    if (!self_tap) return fail(err);
  }

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

  // The uplink, before anything attaches: a missing interface or vif stops us here.
  boost::asio::io_context io;
  std::unique_ptr<daemon::SimTaps> taps;
  if (hv && (!tap_specs.empty() || !sim_uplink.empty())) taps = std::make_unique<daemon::SimTaps>(io, *hv, sim_backend);
  std::unique_ptr<daemon::Uplink> uplink;
  if (cfg.uplink.netfront) {
    std::string err;
    daemon::NetfrontUplink::Handles h;
    if (xen_mode == "real") {
      auto fh = xen::real::open_frontend(&err);
      if (!fh) return fail("uplink: " + err);
      h = {std::move(fh->xs), std::move(fh->share), std::move(fh->evt)};
    } else {
      if (!sim_uplink.empty()) {
        const auto at = sim_uplink.find('@');
        const daemon::SimTapSpec spec{sim_uplink.substr(0, at), "", at == std::string::npos ? "" : sim_uplink.substr(at + 1)};
        if (!taps->add_uplink(spec, &err)) return fail(err);
      }
      h = {std::make_unique<xen::sim::SimXenStore>(*hv, sim_backend), std::make_unique<xen::sim::SimGrantShare>(*hv, sim_backend),
           std::make_unique<xen::sim::SimEventChannels>(*hv, sim_backend)};
    }
    netfront::NetfrontConfig nf_cfg;
    nf_cfg.devid = cfg.uplink.vif;
    nf_cfg.log = [](netfront::LogLevel l, const std::string& m) {
      static constexpr spdlog::level::level_enum kMap[] = {spdlog::level::debug, spdlog::level::info,
                                                           spdlog::level::warn, spdlog::level::err};
      spdlog::log(kMap[int(l)], "uplink: {}", m);
    };
    uplink = daemon::NetfrontUplink::open(std::move(h), std::move(nf_cfg), &err);
    if (!uplink) return fail("uplink: " + err);
  } else if (!cfg.uplink.interface.empty()) {
    std::string err;
    uplink = daemon::PacketUplink::open(cfg.uplink.interface, &err);
    if (!uplink) return fail(err);
  }
  if (uplink) cfg.pipeline.uplink_mac = cfg.uplink.mac.value_or(uplink->mac());

  daemon::Dataplane dp(cfg.pipeline, std::random_device{}() | uint64_t(std::random_device{}()) << 32);
  // The rules: the state directory's (kept across restarts), else the config file's first rules.
  const std::string rules_path = state_dir.empty() ? "" : state_dir + "/rules.json";
  daemon::RuleMap rules = cfg.rules;
  if (!rules_path.empty()) {
    if (::mkdir(state_dir.c_str(), 0750) != 0 && errno != EEXIST)
      return fail("state directory " + state_dir + ": " + std::strerror(errno));
    auto stored = daemon::load_rules(rules_path);
    if (const auto* e = std::get_if<daemon::StoreError>(&stored)) return fail(e->message);
    if (auto& have = std::get<std::optional<daemon::RuleMap>>(stored)) rules = std::move(*have);
  }
  (void)daemon::apply_rules(dp.pipeline(), {}, rules);
  // The connections a previous xfwd left: adopted once the rules are known (QubesDB's come
  // with its first full read), kept every second and at a clean stop.
  std::optional<daemon::StateKeeper> state;
  if (!connections_file.empty()) {
    state.emplace(connections_file, dp.pipeline());
    state->load(daemon::Dataplane::now_ms());
  }
  netback::Netback nb(*xs, *gnt, *evt, dp, cfg.netback);
  dp.attach(nb, uplink.get());
  if (self_tap) dp.attach_self(*self_tap, cfg.self.address);
  std::string err;
  if (!nb.start(&err)) return fail(err);
  daemon::EventLoop loop(io, *xs, *evt, nb);
  if (uplink) {
    uplink->attach(
        loop, [&](std::span<std::byte> f, bool csum_blank, bool csum_valid) { dp.from_uplink(f, csum_blank, csum_valid); },
        [&] { nb.flush_held(); });  // the copies of the pass's super-frames to the VMs
  }
  if (self_tap) {
    loop.add_reader(self_tap->fd(), [&] {
      self_tap->receive([&](std::span<std::byte> f) { dp.from_self(f); });
    });
  }
  loop.add_periodic(std::chrono::milliseconds(250), [&] { dp.tick(); });
  // Drops reach the journal as one summary line per interval (`journalctl -u xfwd`).
  constexpr int kDropSummarySeconds = 10;
  loop.add_periodic(std::chrono::seconds(kDropSummarySeconds), [&] {
    if (const std::string s = dp.drop_summary(kDropSummarySeconds); !s.empty()) spdlog::info("{}", s);
  });
  loop.set_after_pass([&] { dp.flush(); });
  std::unique_ptr<daemon::SimGuests> guests;
  if (sim_guests > 0) guests = std::make_unique<daemon::SimGuests>(io, *hv, sim_backend, sim_guests);
  for (const auto& t : tap_specs)
    if (!taps->add(t, &err)) return fail(err);

  boost::asio::signal_set hup(io, SIGHUP);
  std::unique_ptr<daemon::ControlServer> control;
  // QubesDB ([qubesdb] enabled): dom0's rules, client addresses and network, as they change.
  std::unique_ptr<daemon::QubesDbLink> qubesdb;
  if (cfg.qubesdb.enabled) {
    qubesdb = std::make_unique<daemon::QubesDbLink>(io, cfg.qubesdb.socket, dp, cfg.pipeline, rules);
    qubesdb->on_first_sync = [&] {
      if (state) state->adopt(daemon::Dataplane::now_ms());
    };
  } else if (state) {
    state->adopt(daemon::Dataplane::now_ms());
  }
  auto stop = [&] {
    daemon::notify_stopping();
    if (qubesdb) qubesdb->stop();
    loop.stop();
    hup.cancel();
    if (control) control->stop();
    if (guests) guests->stop();
    if (taps) taps->stop();
    io.stop();
  };
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code ec, int sig) {
    if (!ec) spdlog::info("signal {}: stopping", sig);
    stop();
  });
  // What xfwctl and SIGHUP change rules through (store, then apply).
  daemon::ControlContext ctl_ctx{nb, dp, rules, rules_path, uplink ? uplink->name() : "", daemon::Dataplane::now_ms(),
                                 qubesdb.get(), {}};
  // SIGHUP: load the [rules] of the config file again (into the state), all VMs at once; a bad
  // file changes nothing.
  std::function<void()> wait_hup = [&] {
    hup.async_wait([&](boost::system::error_code ec, int) {
      if (ec) return;
      const auto again = daemon::load_config(config_path, false);
      if (const auto* e = std::get_if<daemon::ConfigError>(&again)) {
        spdlog::error("reload of {} refused, rules unchanged: {}", config_path, e->message);
      } else {
        const auto done = daemon::commit_rules(ctl_ctx, std::get<daemon::Config>(again).rules);
        if (const auto* bad = std::get_if<daemon::StoreError>(&done)) {
          spdlog::error("reload of {} refused, rules unchanged: {}", config_path, bad->message);
        } else {
          spdlog::warn("rules reloaded from {}: {} VMs, {} connections cut", config_path, rules.size(),
                       std::get<std::size_t>(done));
        }
      }
      wait_hup();
    });
  };
  wait_hup();
  boost::asio::steady_timer duration(io);
  if (sim_duration > 0) {
    duration.expires_after(std::chrono::milliseconds(int64_t(sim_duration * 1000)));
    duration.async_wait([&](boost::system::error_code ec) {
      if (!ec) stop();
    });
  }
  // The control socket (xfwctl).
  if (!control_socket.empty()) {
    std::optional<gid_t> gid;
    if (const group* g = ::getgrnam(cfg.control_group.c_str())) gid = g->gr_gid;
    else spdlog::warn("group {} does not exist: only root may use xfwctl", cfg.control_group);
    control = daemon::ControlServer::open(
        io, control_socket, gid, [&](const nlohmann::json& req) { return daemon::handle_control(ctl_ctx, req); }, &err);
    if (!control) return fail(err);
    dp.on_drop = [&](const daemon::DropRecord& d) { daemon::publish_drop(ctl_ctx, d); };
    control->start();
  }
  // Temporary rules (expire=, as qvm-firewall's): gone within a second of their time.
  loop.add_periodic(std::chrono::seconds(1), [&] {
    std::string why;
    if (const std::size_t n = daemon::expire_rules(ctl_ctx, firewall::wall_seconds(), &why))
      spdlog::info("{} rule{} expired and removed{}", n, n == 1 ? "" : "s", why.empty() ? "" : " (not stored: " + why + ")");
  });
  if (state) loop.add_periodic(std::chrono::seconds(1), [&] { state->save(daemon::Dataplane::now_ms()); });
  if (const auto wd = daemon::watchdog_interval())
    loop.add_periodic(std::chrono::duration_cast<std::chrono::milliseconds>(*wd / 2), [] { daemon::notify_watchdog(); });
  // Every device and socket is open: no capability is needed any more.
  if (!daemon::drop_capabilities(&err)) spdlog::warn("{}", err);
  spdlog::info("xfwd started ({} hypervisor), watching {}", xen_mode, nb.backend_root());
  daemon::notify_ready("watching " + nb.backend_root() + (uplink ? ", uplink " + uplink->name() : ", no uplink"));
  loop.start();
  if (qubesdb) qubesdb->start();
  if (guests) guests->start();
  if (taps) taps->start();
  dp.tick();
  io.run();
  if (state) state->save_now(daemon::Dataplane::now_ms());  // before the vifs go: nothing is lost
  if (xen_mode == "sim") print_summary(nb, dp);
  spdlog::info("xfwd stopped");
  return 0;
}
