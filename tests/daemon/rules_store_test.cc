// The rules file in the state directory: round trip, refusal of bad files, and atomicity: a
// writer killed at any moment leaves the old rules or the new ones, never a mix or nothing.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "daemon/rules_store.h"

namespace xfw::daemon {
namespace {

firewall::Rule rule(const char* t) { return std::get<firewall::Rule>(firewall::parse_rule(t)); }

std::string temp_path(const char* name) {
  const auto dir = std::filesystem::path(::testing::TempDir()) / ("store." + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

TEST(RulesStore, RoundTripAndMissingFile) {
  const auto path = temp_path("rt.json");
  std::filesystem::remove(path);
  auto first = load_rules(path);
  ASSERT_TRUE(std::holds_alternative<std::optional<RuleMap>>(first));
  EXPECT_FALSE(std::get<std::optional<RuleMap>>(first));  // no file yet
  RuleMap m{{"work", {rule("action=accept proto=tcp dstports=443-443"), rule("action=drop")}}, {"empty", {}}};
  ASSERT_FALSE(save_rules(path, m));
  auto back = load_rules(path);
  ASSERT_TRUE(std::holds_alternative<std::optional<RuleMap>>(back));
  EXPECT_EQ(*std::get<std::optional<RuleMap>>(back), m);
}

TEST(RulesStore, BadFilesAreRefusedWhole) {
  const auto path = temp_path("bad.json");
  for (const char* text : {"", "[]", "{\"version\": 2, \"rules\": {}}", "{\"version\": 1, \"rules\": {\"a b\": []}}",
                           "{\"version\": 1, \"rules\": {\"x\": [\"action=accept\", 3]}}",
                           "{\"version\": 1, \"rules\": {\"x\": [\"action=accept dst4=1.2.3.4/33\"]}}"}) {
    std::ofstream(path) << text;
    EXPECT_TRUE(std::holds_alternative<StoreError>(load_rules(path))) << text;
  }
  EXPECT_FALSE(save_rules("/nonexistent/dir/rules.json", {}) == std::nullopt);
}

TEST(RulesStore, AWriterKilledAnywhereLeavesOldOrNew) {
  const auto path = temp_path("crash.json");
  const RuleMap a{{"vm", {rule("action=accept")}}};
  RuleMap b;
  for (int i = 0; i < 400; ++i) b["vm" + std::to_string(i)] = {rule("action=accept proto=tcp dstports=1-1024"), rule("action=drop")};
  ASSERT_FALSE(save_rules(path, a));
  std::mt19937 rng(11);
  int saw_a = 0, saw_b = 0;
  for (int round = 0; round < 40; ++round) {
    const pid_t child = ::fork();
    if (child == 0) {
      for (int i = 0;; ++i) (void)save_rules(path, i % 2 ? a : b);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200 + rng() % 3000));
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    auto got = load_rules(path);
    ASSERT_TRUE(std::holds_alternative<std::optional<RuleMap>>(got)) << std::get<StoreError>(got).message;
    const auto& m = *std::get<std::optional<RuleMap>>(got);
    ASSERT_TRUE(m == a || m == b);
    (m == a ? saw_a : saw_b)++;
  }
  EXPECT_GT(saw_a + saw_b, 0);
}

}  // namespace
}  // namespace xfw::daemon
