// What keeping connections across restarts costs (docs/restart.md): the snapshot xfwd writes
// every second, and the adoption at start, for a table of N flows made by real frames (UDP from
// the VM "work" to N destinations). Run under callgrind by bench/state_cost.sh for instructions
// per flow; with --time it prints wall-clock figures itself (median and spread of 5 runs).
//   state_bench none|copy|save|load N [--time]
//     none   the set-up alone (the table of N flows, the file, the restarted pipeline)
//     copy   Pipeline::save alone: what the event loop does once a second
//     save   copy + encode_state + the file replaced under /dev/shm (the rest on the writer thread)
//     load   read + decode_state + restore + adopt_saved into a new pipeline (once, at start)
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "daemon/atomic_file.h"
#include "daemon/state_file.h"
#include "tests/support/packets.h"

using namespace xfw;
using namespace xfw::testing;

namespace {

struct Null final : firewall::Egress {
  void to_uplink(std::span<const std::byte>, uint16_t) override {}
  void to_vif(netback::VifId, std::span<const std::byte>) override {}
};

const daemon::BootId kBoot{};

firewall::PipelineConfig config() {
  firewall::PipelineConfig c;
  c.uplink_addr = packet::Ipv4Addr{{192, 168, 100, 2}};
  c.uplink_gateway = packet::Ipv4Addr{{192, 168, 100, 1}};
  c.uplink_mac = packet::MacAddr{{2, 0, 0, 0, 0, 2}};
  c.default_rules = {firewall::accept_all()};
  c.limits.max_flows = 65536;
  c.limits.max_flows_per_vif = 65536;
  return c;
}

const netback::VifInfo kWork{netback::VifId{0, 1}, xen::DomId{5}, 0, "work", kClientMac,
                             xen::IpList{{packet::Ipv4Addr{{10, 137, 0, 5}}}, {}}};

void fill(firewall::Pipeline& pl, long n) {
  // The gateway answers ARP (192.168.100.1 is-at 02:00:00:00:00:01), so that frames go out.
  if (pl.from_uplink(hex({2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 6, 0, 1, 8, 0, 6, 4, 0, 2, 2, 0, 0, 0, 0, 1,
                          192, 168, 100, 1, 2, 0, 0, 0, 0, 2, 192, 168, 100, 2}), 1000))
    std::abort();
  for (long i = 0; i < n; ++i) {
    const std::string dst = "198." + std::to_string(18 + i / 62500) + "." + std::to_string(i / 250 % 250) + "." +
                            std::to_string(i % 250 + 1);
    if (pl.from_client(kWork.id, udp(Ip4{"10.137.0.5", dst}, 40000, 53), {}, 1000)) std::abort();
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return std::fprintf(stderr, "usage: state_bench none|copy|save|load N [--time]\n"), 2;
  const std::string mode = argv[1];
  const long n = std::atol(argv[2]);
  const bool timed = argc > 3 && std::strcmp(argv[3], "--time") == 0;
  const std::string path = "/dev/shm/xfw-state-bench-" + std::to_string(::getpid());
  Null out;
  firewall::Pipeline pl(config(), out, 7);
  pl.vif_up(kWork, 1000);
  fill(pl, n);
  if (pl.conntrack().size() != std::size_t(n)) std::abort();
  const std::string file = daemon::encode_state(pl.save(2000), kBoot, 2000);
  if (auto e = daemon::replace_file(path, file, false)) return std::fprintf(stderr, "%s\n", e->c_str()), 1;

  constexpr int kRuns = 5;
  std::vector<std::unique_ptr<firewall::Pipeline>> fresh;  // the restarted xfwd's, made beforehand
  for (int r = 0; r < (timed ? kRuns : 1); ++r) {
    fresh.push_back(std::make_unique<firewall::Pipeline>(config(), out, 9));
    fresh.back()->vif_up(kWork, 2000);
  }
  auto once = [&](int run) {
    if (mode == "none") return;
    if (mode == "copy") {
      if (pl.save(2000).flows.size() != std::size_t(n)) std::abort();
      return;
    }
    if (mode == "save") {
      if (daemon::replace_file(path, daemon::encode_state(pl.save(2000), kBoot, 2000), false)) std::abort();
    } else {
      auto read = daemon::read_state_file(path, 1u << 30);
      const auto* data = std::get_if<std::optional<std::string>>(&read);
      if (!data || !*data) std::abort();
      auto s = daemon::decode_state(**data, daemon::StateCheck{kBoot, 2000, 65536, 432'001'000});
      firewall::Pipeline& p = *fresh[std::size_t(run)];
      p.restore(std::move(std::get<firewall::SavedState>(s)));
      if (p.adopt_saved(2000) || p.conntrack().size() != std::size_t(n)) std::abort();
    }
  };
  if (!timed) {
    once(0);
  } else {
    std::vector<double> ms;
    for (int r = 0; r < kRuns; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      once(r);
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    std::printf("%s %ld flows: %zu bytes, median %.2f ms (min %.2f, max %.2f, 5 runs)\n", mode.c_str(), n,
                file.size(), ms[2], ms[0], ms[4]);
  }
  ::unlink(path.c_str());
  return 0;
}
