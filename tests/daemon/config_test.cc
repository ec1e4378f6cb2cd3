// xfwd's configuration: defaults, every key, and errors that name the key.
#include <gtest/gtest.h>

#include "daemon/config.h"

namespace xfw::daemon {
namespace {

std::string error_of(std::string_view text) {
  const auto r = parse_config(text);
  const auto* e = std::get_if<ConfigError>(&r);
  return e ? e->message : "(no error)";
}

TEST(Config, EmptyMeansDefaults) {
  const auto r = parse_config("");
  ASSERT_TRUE(std::holds_alternative<Config>(r));
  EXPECT_EQ(std::get<Config>(r).log_level, "info");
  EXPECT_EQ(std::get<Config>(r).netback.limits.tx_budget, 64u);
}

TEST(Config, EveryKey) {
  const auto r = parse_config(R"(
[log]
level = "debug"
[netback]
rx_queue_bytes = 65536
rx_stall_timeout_ms = 2000
tx_budget = 32
rx_budget = 16
write_hotplug_status = false
)");
  ASSERT_TRUE(std::holds_alternative<Config>(r)) << std::get<ConfigError>(r).message;
  const auto& c = std::get<Config>(r);
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.netback.limits.rx_queue_bytes, 65536u);
  EXPECT_EQ(c.netback.limits.rx_stall_timeout, std::chrono::milliseconds(2000));
  EXPECT_EQ(c.netback.limits.tx_budget, 32u);
  EXPECT_EQ(c.netback.limits.rx_budget, 16u);
  EXPECT_FALSE(c.netback.write_hotplug_status);
}

TEST(Config, ErrorsNameTheKey) {
  EXPECT_EQ(error_of("[netback]\ntx_budget = 0\n"),
            "netback.tx_budget: must be between 1 and 256, got 0");
  EXPECT_EQ(error_of("[netback]\nrx_budget = \"many\"\n"), "netback.rx_budget: must be an integer");
  EXPECT_EQ(error_of("[netback]\nrx_queue_bytes = 1\n"),
            "netback.rx_queue_bytes: must be between 16384 and 67108864, got 1");
  EXPECT_EQ(error_of("[netback]\ntx_bugdet = 3\n"), "netback.tx_bugdet: unknown key");
  EXPECT_EQ(error_of("[uplink]\n"), "uplink: unknown key");
  EXPECT_EQ(error_of("[log]\nlevel = \"loud\"\n"),
            "log.level: must be one of trace, debug, info, warn, error");
  EXPECT_EQ(error_of("log = 3\n"), "log: must be a table");
  EXPECT_EQ(error_of("[netback]\nwrite_hotplug_status = 1\n"),
            "netback.write_hotplug_status: must be true or false");
  EXPECT_EQ(error_of("[netback\n").substr(0, 7), "line 1:");
}

TEST(Config, Files) {
  EXPECT_TRUE(std::holds_alternative<Config>(load_config("/nonexistent/xfwd.toml", true)));
  const auto r = load_config("/nonexistent/xfwd.toml", false);
  ASSERT_TRUE(std::holds_alternative<ConfigError>(r));
  EXPECT_EQ(std::get<ConfigError>(r).message, "cannot read the file");
}

}  // namespace
}  // namespace xfw::daemon
