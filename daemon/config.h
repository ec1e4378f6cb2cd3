// daemon/config.h — xfwd's configuration file (TOML), parsed strictly.
//
//   [log]
//   level = "info"                 # trace | debug | info | warn | error
//   [netback]
//   rx_queue_bytes = 131072        # per vif, 16 KiB .. 64 MiB
//   rx_stall_timeout_ms = 10000    # 100 .. 3600000
//   tx_budget = 64                 # packets per pass, 1 .. 256
//   rx_budget = 64
//   write_hotplug_status = true
//
// Unknown keys and bad values are errors that name the key; load_config() never throws.
#pragma once

#include <string>
#include <variant>

#include "netback/netback.h"

namespace xfw::daemon {

struct Config {
  std::string log_level = "info";
  netback::NetbackConfig netback;
};

struct ConfigError {
  std::string message;  // "netback.tx_budget: must be between 1 and 256, got 0"
};

// Parses TOML text; `origin` names the source in messages.
[[nodiscard]] std::variant<Config, ConfigError> parse_config(std::string_view text);
// Reads and parses a file. A missing file is an error unless `missing_ok` (then defaults).
[[nodiscard]] std::variant<Config, ConfigError> load_config(const std::string& path,
                                                            bool missing_ok);

}  // namespace xfw::daemon
