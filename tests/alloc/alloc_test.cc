// Zero allocations per packet on netback's steady-state path.
//
// Global operator new/delete are replaced by counting versions. After a warm-up (vectors reach
// their capacity), counting is switched on only around netback's own calls — Netback::to_guest,
// on_events and poll — while 10 000+ frames (single- and multi-slot) go guest -> netback ->
// guest. The simulated guest allocates (it keeps received frames in vectors) and runs with
// counting off. Sanitizer builds replace operator new themselves, so there the test is skipped.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "daemon/heap.h"  // XFW_ASAN
#include "tests/support/world.h"

namespace {
std::atomic<bool> counting{false};
std::atomic<uint64_t> allocations{0};
}  // namespace

#ifndef XFW_ASAN
void* operator new(std::size_t n) {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
#endif

namespace xfw::testing {
namespace {

struct Counting {
  Counting() { counting = true; }
  ~Counting() { counting = false; }
};

class ZeroAlloc : public ::testing::Test {
 protected:
  void SetUp() override {
#ifdef XFW_ASAN
    GTEST_SKIP() << "sanitizer build: operator new is the sanitizer's";
#endif
  }
};

TEST_F(ZeroAlloc, CounterCountsAllocations) {
  allocations = 0;
  {
    Counting c;
    auto* v = new std::vector<int>(100);
    delete v;
  }
  EXPECT_EQ(allocations.load(), 2u);  // the vector object and its buffer
}

TEST_F(ZeroAlloc, SteadyStateGuestToGuestPathDoesNotAllocate) {
  World w;
  w.sink.keep = false;
  auto& a = w.add_guest(DomId{5}, "a", "10.137.0.5");
  auto& b = w.add_guest(DomId{6}, "b", "10.137.0.6");
  w.settle();
  const auto ida = w.vif_id(DomId{5}), idb = w.vif_id(DomId{6});
  const auto small = make_frame(64), big = make_frame(9000);  // 1 and 3 slots

  auto round = [&](bool count) {
    for (int i = 0; i < 32; ++i) ASSERT_TRUE(a.send(i % 8 ? small : big));
    {
      std::optional<Counting> c;
      if (count) c.emplace();
      w.nb.on_events(w.now);
      while (w.nb.poll(w.now)) {
      }
      for (int i = 0; i < 32; ++i) w.nb.to_guest(i % 2 ? ida : idb, i % 8 ? small : big);
      while (w.nb.poll(w.now)) {
      }
    }
    a.step();
    b.step();
    while (a.receive()) {
    }
    while (b.receive()) {
    }
    {
      std::optional<Counting> c;
      if (count) c.emplace();
      w.nb.on_events(w.now);  // the guests' kicks (buffers re-posted, responses taken)
      while (w.nb.poll(w.now)) {
      }
    }
  };
  for (int i = 0; i < 50; ++i) round(false);  // warm-up
  allocations = 0;
  for (int i = 0; i < 320; ++i) round(true);  // 10 240 frames from a guest, 10 240 to guests
  EXPECT_EQ(w.sink.count, 370u * 32u);
  EXPECT_EQ(a.rx_frames + b.rx_frames, 370u * 32u);
  EXPECT_EQ(allocations.load(), 0u);
}

}  // namespace
}  // namespace xfw::testing
