// bench/attach_bench.cc — 100 simulated vifs attached at once.
//
// Measures (1) RSS growth per vif while netback attaches to 100 vifs (the baseline is taken
// after every simulated netfront and its pages exist, so only the backend and XenStore growth
// count) and (2) the time from a frontend writing Connected to the backend writing Connected.
// All frontends run in this thread; in reality they run in their own VMs, so "frontend
// Connected" is stamped after the frontends' round, when the backend could first see it.
// Exits 1 if a target is missed: RSS growth <= 256 KiB per vif, median latency <= 2 ms.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <vector>

#include "tests/support/process.h"
#include "tests/support/world.h"
using namespace xfw;
using namespace xfw::testing;

int main(int argc, char** argv) {
  World w;
  w.sink.keep = false;
  const int N = argc > 1 ? std::atoi(argv[1]) : 100;
  for (int i = 0; i < N; ++i)
    w.add_guest(DomId{uint16_t(10 + i)}, "vm", "10.137.0." + std::to_string(i + 2));
  long base = rss_kib();
  std::vector<std::optional<std::chrono::steady_clock::time_point>> fe_at(N), be_at(N);
  for (int round = 0; round < 10000; ++round) {
    bool did = false;
    if (w.be_xs.pending_watch_events()) {
      w.nb.on_xenstore(w.now);
      did = true;
    }
    if (w.be_evt.has_pending()) {
      w.nb.on_events(w.now);
      did = true;
    }
    if (w.nb.has_work()) {
      w.nb.poll(w.now);
      did = true;
    }
    auto now = std::chrono::steady_clock::now();
    for (int i = 0; i < N; ++i)
      if (fe_at[i] && !be_at[i] && w.backend_key(DomId{uint16_t(10 + i)}, "state") == "4")
        be_at[i] = now;
    for (int i = 0; i < N; ++i) did |= w.front(DomId{uint16_t(10 + i)}).step();
    now = std::chrono::steady_clock::now();
    for (int i = 0; i < N; ++i)
      if (w.front(DomId{uint16_t(10 + i)}).connected() && !fe_at[i]) fe_at[i] = now;
    if (!did) break;
  }
  long grown = rss_kib() - base;
  std::vector<double> lat;
  for (int i = 0; i < N; ++i)
    if (fe_at[i] && be_at[i])
      lat.push_back(std::chrono::duration<double, std::micro>(*be_at[i] - *fe_at[i]).count());
  std::sort(lat.begin(), lat.end());
  if (lat.size() != size_t(N) || w.nb.connected_vifs() != size_t(N)) {
    std::printf("FAIL: only %zu of %d vifs connected\n", w.nb.connected_vifs(), N);
    return 1;
  }
  const double per_vif = double(grown) / N, median = lat[lat.size() / 2];
  std::printf("vifs attached at once       %d\n", N);
  std::printf("RSS growth                  %ld KiB total, %.1f KiB per vif (target <= 256)\n",
              grown, per_vif);
  std::printf("Connected -> Connected      median %.0f us, max %.0f us (target median <= 2000)\n",
              median, lat.back());
  const bool ok = per_vif <= 256 && median <= 2000;
  std::printf("%s\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}
