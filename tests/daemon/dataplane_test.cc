// Dataplane: what the journal gets about drops (one summary line an interval, never one per frame).
#include <gtest/gtest.h>

#include <vector>

#include "daemon/dataplane.h"
#include "daemon/heap.h"
#include "packet/describe.h"

namespace {

TEST(DropSummary, CountsEveryDropSinceTheLastCallInOneLine) {
  xfw::daemon::Dataplane dp(xfw::firewall::PipelineConfig{}, 1);
  EXPECT_EQ(dp.drop_summary(10), "");
  std::vector<std::byte> runt(5);
  for (int i = 0; i < 1000; ++i) dp.from_uplink(runt, false);  // more than the per-frame log takes
  const std::string s = dp.drop_summary(10);
  EXPECT_EQ(s.rfind("1000 drops in the last 10 s: ", 0), 0u) << s;
  EXPECT_NE(s.find("; last: (uplink) "), std::string::npos) << s;
  EXPECT_EQ(s.find('\n'), std::string::npos) << s;
  EXPECT_EQ(dp.drop_summary(10), "") << "a second call reports only what came since";
  dp.from_uplink(runt, false);
  EXPECT_EQ(dp.drop_summary(10).rfind("1 drops in the last 10 s: ", 0), 0u);
}

// The drop log is preallocated: filling it, and going round it, takes nothing from the heap.
// (A deque of records grew xfwd's heap by 6 KiB an AppVM lifecycle in the lab's soak until
// 256 drops were logged, which looked like a leak.)
TEST(DropLog, AFullLogHoldsNoMoreHeapThanAnEmptyOne) {
  xfw::daemon::DropLog log;
  const std::string vm = "work-browser-1", what(100, 'w');
  const std::vector<std::byte> frame(300, std::byte{1});
  const uint64_t empty = xfw::heap_bytes();
  for (std::size_t i = 0; i < 3 * log.kSize; ++i) {
    auto& r = log.next();
    r.seq = i;
    r.vm.assign(vm);
    r.what.assign(what);
    r.head.assign(frame.begin(), frame.begin() + long(log.kSnapLen));
  }
  EXPECT_EQ(xfw::heap_bytes(), empty);
  EXPECT_EQ(log.size(), log.kSize);
  EXPECT_EQ(log.newest()->seq, 3 * log.kSize - 1);
  std::vector<uint64_t> seqs;
  log.each([&](const xfw::daemon::DropRecord& r) { seqs.push_back(r.seq); });
  ASSERT_EQ(seqs.size(), log.kSize);
  for (std::size_t i = 0; i < seqs.size(); ++i) EXPECT_EQ(seqs[i], 2 * log.kSize + i) << "oldest first";
}

TEST(DropLog, TheDataplaneRecordsDropsWithoutAllocating) {
  xfw::daemon::Dataplane dp(xfw::firewall::PipelineConfig{}, 1);
  std::vector<std::byte> runt(5), longer_runt(12);
  dp.from_uplink(runt, false);  // the first drop: anything done once
  const uint64_t before = xfw::heap_bytes();
  for (int i = 0; i < 49; ++i) {  // 99 drops, all logged (100 a second are)
    dp.from_uplink(runt, false);
    dp.from_uplink(longer_runt, false);
  }
  // glibc's count moves by a few dozen bytes as freed temporaries sit in its caches; 99
  // records each allocated would be 40 KB.
  EXPECT_LE(xfw::heap_bytes(), before + 1024);
  EXPECT_EQ(dp.recent_drops().size(), 99u);
  EXPECT_EQ(dp.recent_drops().newest()->len, 12u);
}

TEST(Describe, UnknownEthertypeInHex) {
  std::vector<std::byte> f(64, std::byte{0x5a});
  EXPECT_EQ(xfw::packet::describe(f), "ethertype 0x5a5a");
  f[12] = std::byte{0x08};
  f[13] = std::byte{0x06};  // ARP, but too short to be one
  EXPECT_EQ(xfw::packet::describe(f).rfind("malformed: ", 0), 0u) << xfw::packet::describe(f);
}

}  // namespace
