#include "daemon/config.h"

#include <toml++/toml.h>

#include <fstream>
#include <set>
#include <sstream>

namespace xfw::daemon {
namespace {

struct Parser {
  const toml::table& root;
  std::string error;

  bool check_keys(const toml::table& t, const std::string& prefix,
                  const std::set<std::string>& known) {
    for (const auto& [k, v] : t) {
      if (!known.contains(std::string(k.str()))) {
        error = prefix + std::string(k.str()) + ": unknown key";
        return false;
      }
    }
    return true;
  }

  bool integer(const toml::table& t, const std::string& section, const char* key, int64_t lo,
               int64_t hi, auto& out) {
    const auto* node = t.get(key);
    if (node == nullptr) return true;
    const std::string name = section + "." + key;
    const auto v = node->value_exact<int64_t>();
    if (!v) return error = name + ": must be an integer", false;
    if (*v < lo || *v > hi) {
      error = name + ": must be between " + std::to_string(lo) + " and " + std::to_string(hi) +
              ", got " + std::to_string(*v);
      return false;
    }
    out = static_cast<std::remove_reference_t<decltype(out)>>(*v);
    return true;
  }
};

}  // namespace

std::variant<Config, ConfigError> parse_config(std::string_view text) {
  toml::table root;
  try {
    root = toml::parse(text);
  } catch (const toml::parse_error& e) {
    std::ostringstream m;
    m << "line " << e.source().begin.line << ": " << e.description();
    return ConfigError{m.str()};
  }
  Config c;
  Parser p{root, {}};
  if (!p.check_keys(root, "", {"log", "netback"})) return ConfigError{p.error};

  if (const auto* node = root.get("log")) {
    const auto* log = node->as_table();
    if (!log) return ConfigError{"log: must be a table"};
    if (!p.check_keys(*log, "log.", {"level"})) return ConfigError{p.error};
    if (const auto* lv = log->get("level")) {
      const auto s = lv->value_exact<std::string>();
      static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn", "error"};
      if (!s || !kLevels.contains(*s))
        return ConfigError{"log.level: must be one of trace, debug, info, warn, error"};
      c.log_level = *s;
    }
  }
  if (const auto* node = root.get("netback")) {
    const auto* nb = node->as_table();
    if (!nb) return ConfigError{"netback: must be a table"};
    if (!p.check_keys(*nb, "netback.",
                      {"rx_queue_bytes", "rx_stall_timeout_ms", "tx_budget", "rx_budget",
                       "write_hotplug_status"}))
      return ConfigError{p.error};
    auto& lim = c.netback.limits;
    int64_t stall_ms = lim.rx_stall_timeout.count();
    if (!p.integer(*nb, "netback", "rx_queue_bytes", 16 * 1024, 64 * 1024 * 1024,
                   lim.rx_queue_bytes) ||
        !p.integer(*nb, "netback", "rx_stall_timeout_ms", 100, 3'600'000, stall_ms) ||
        !p.integer(*nb, "netback", "tx_budget", 1, 256, lim.tx_budget) ||
        !p.integer(*nb, "netback", "rx_budget", 1, 256, lim.rx_budget)) {
      return ConfigError{p.error};
    }
    lim.rx_stall_timeout = std::chrono::milliseconds(stall_ms);
    if (const auto* h = nb->get("write_hotplug_status")) {
      const auto b = h->value_exact<bool>();
      if (!b) return ConfigError{"netback.write_hotplug_status: must be true or false"};
      c.netback.write_hotplug_status = *b;
    }
  }
  return c;
}

std::variant<Config, ConfigError> load_config(const std::string& path, bool missing_ok) {
  std::ifstream f(path);
  if (!f) {
    if (missing_ok) return Config{};
    return ConfigError{"cannot read the file"};
  }
  std::ostringstream text;
  text << f.rdbuf();
  return parse_config(text.str());
}

}  // namespace xfw::daemon
