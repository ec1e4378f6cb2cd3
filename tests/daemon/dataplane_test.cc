// Dataplane: what the journal gets about drops (one summary line an interval, never one per frame).
#include <gtest/gtest.h>

#include <vector>

#include "daemon/dataplane.h"
#include "packet/describe.h"

namespace {

TEST(DropSummary, CountsEveryDropSinceTheLastCallInOneLine) {
  xfw::daemon::Dataplane dp(xfw::firewall::PipelineConfig{}, 1);
  EXPECT_EQ(dp.drop_summary(10), "");
  const std::vector<std::byte> runt(5);
  for (int i = 0; i < 1000; ++i) dp.from_uplink(runt, false);  // more than the per-frame log takes
  const std::string s = dp.drop_summary(10);
  EXPECT_EQ(s.rfind("1000 drops in the last 10 s: ", 0), 0u) << s;
  EXPECT_NE(s.find("; last: (uplink) "), std::string::npos) << s;
  EXPECT_EQ(s.find('\n'), std::string::npos) << s;
  EXPECT_EQ(dp.drop_summary(10), "") << "a second call reports only what came since";
  dp.from_uplink(runt, false);
  EXPECT_EQ(dp.drop_summary(10).rfind("1 drops in the last 10 s: ", 0), 0u);
}

TEST(Describe, UnknownEthertypeInHex) {
  std::vector<std::byte> f(64, std::byte{0x5a});
  EXPECT_EQ(xfw::packet::describe(f), "ethertype 0x5a5a");
  f[12] = std::byte{0x08};
  f[13] = std::byte{0x06};  // ARP, but too short to be one
  EXPECT_EQ(xfw::packet::describe(f).rfind("malformed: ", 0), 0u) << xfw::packet::describe(f);
}

}  // namespace
