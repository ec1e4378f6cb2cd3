// bench/ring_bench.cc — netback's ring path in the simulated hypervisor, one core.
//
// Each iteration moves a batch of 128 frames through a connected vif:
//   FromGuest/N: the simulated netfront queues N-byte frames; netback consumes the tx ring
//                (validation + one batched grant copy + responses) and delivers to the sink.
//   ToGuest/N:   netback queues N-byte frames, fills posted rx buffers (grant copy) and answers.
// "backend" variants time only netback's calls (manual time), "loop" variants the whole loop
// including the simulated guest's own work. Items/s = packets/s; bytes/s = payload.
#include <benchmark/benchmark.h>

#include <chrono>

#include "tests/support/world.h"

namespace {

using namespace xfw;
using namespace xfw::testing;
using Clock = std::chrono::steady_clock;
constexpr int kBatch = 128;

netback::NetbackConfig bench_config() {
  netback::NetbackConfig cfg;
  cfg.limits.rx_queue_bytes = 512 * 1024;  // a whole batch of 1500-byte frames fits
  return cfg;
}

struct Setup {
  World w{bench_config()};
  xen::sim::SimNetfront* fe;
  netback::VifId id;
  Setup() {
    w.sink.keep = false;
    fe = &w.add_guest(DomId{5}, "bench", "10.137.0.5");
    w.settle();
    id = w.vif_id(DomId{5});
  }
  void backend() {
    w.nb.on_events(w.now);
    while (w.nb.poll(w.now)) {
    }
  }
};

void FromGuest(benchmark::State& state, bool backend_only) {
  Setup s;
  const auto frame = make_frame(std::size_t(state.range(0)));
  for (auto _ : state) {
    for (int i = 0; i < kBatch; ++i) s.fe->send(frame);
    const auto t0 = Clock::now();
    s.backend();
    const auto t1 = Clock::now();
    s.fe->step();  // collect responses
    if (backend_only) state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
  }
  if (s.w.sink.count != uint64_t(state.iterations()) * kBatch) state.SkipWithError("frames lost");
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.SetBytesProcessed(state.iterations() * kBatch * state.range(0));
}

void ToGuest(benchmark::State& state, bool backend_only) {
  Setup s;
  const auto frame = make_frame(std::size_t(state.range(0)));
  for (auto _ : state) {
    const auto t0 = Clock::now();
    for (int i = 0; i < kBatch; ++i) s.w.nb.to_guest(s.id, frame);
    s.backend();
    const auto t1 = Clock::now();
    s.fe->step();  // take frames, re-post buffers
    while (s.fe->receive()) {
    }
    if (backend_only) state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
  }
  if (s.fe->rx_frames != uint64_t(state.iterations()) * kBatch) state.SkipWithError("frames lost");
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.SetBytesProcessed(state.iterations() * kBatch * state.range(0));
}

void FromGuestBackend(benchmark::State& s) { FromGuest(s, true); }
void FromGuestLoop(benchmark::State& s) { FromGuest(s, false); }
void ToGuestBackend(benchmark::State& s) { ToGuest(s, true); }
void ToGuestLoop(benchmark::State& s) { ToGuest(s, false); }

BENCHMARK(FromGuestBackend)->Arg(64)->Arg(1500)->UseManualTime();
BENCHMARK(FromGuestLoop)->Arg(64)->Arg(1500);
BENCHMARK(ToGuestBackend)->Arg(64)->Arg(1500)->UseManualTime();
BENCHMARK(ToGuestLoop)->Arg(64)->Arg(1500);

}  // namespace

BENCHMARK_MAIN();
