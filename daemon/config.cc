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

  bool boolean(const toml::table& t, const std::string& section, const char* key, bool& out) {
    const auto* node = t.get(key);
    if (node == nullptr) return true;
    const auto v = node->value_exact<bool>();
    if (!v) return error = section + "." + key + ": must be true or false", false;
    out = *v;
    return true;
  }

  template <class T>
  bool parsed(const toml::node& node, const std::string& name, const char* what, T& out) {
    const auto s = node.value_exact<std::string>();
    const auto v = s ? T::parse(*s) : std::nullopt;
    if (!v) return error = name + ": must be " + what + " in quotes", false;
    out = *v;
    return true;
  }

  template <class T>
  bool address(const toml::table& t, const std::string& section, const char* key, T& out) {
    const auto* node = t.get(key);
    return node == nullptr || parsed(*node, section + "." + key, "an IPv4 address", out);
  }

  bool address6(const toml::table& t, const std::string& section, const char* key, packet::Ipv6Addr& out) {
    const auto* node = t.get(key);
    return node == nullptr || parsed(*node, section + "." + key, "an IPv6 address", out);
  }

  bool addresses(const toml::table& t, const std::string& section, const char* key,
                 std::vector<packet::Ipv4Addr>& out) {
    const auto* node = t.get(key);
    if (node == nullptr) return true;
    const std::string name = section + "." + key;
    const auto* arr = node->as_array();
    if (!arr || arr->size() > 8) return error = name + ": must be a list of up to 8 IPv4 addresses", false;
    out.clear();
    for (std::size_t i = 0; i < arr->size(); ++i) {
      packet::Ipv4Addr a;
      if (!parsed((*arr)[i], name + "[" + std::to_string(i) + "]", "an IPv4 address", a)) return false;
      out.push_back(a);
    }
    return true;
  }
};

std::optional<ConfigError> parse_uplink(Parser& p, const toml::table& t, Config& c) {
  if (!p.check_keys(t, "uplink.", {"kind", "vif", "interface", "address", "gateway", "address6", "gateway6", "mac"}))
    return ConfigError{p.error};
  if (const auto* n = t.get("interface")) {
    const auto s = n->value_exact<std::string>();
    if (!s || s->empty() || s->size() > 15 || s->find('/') != std::string::npos)
      return ConfigError{"uplink.interface: must be an interface name (1 to 15 characters)"};
    c.uplink.interface = *s;
  }
  if (const auto* n = t.get("kind")) {
    const auto s = n->value_exact<std::string>();
    if (!s || (*s != "packet" && *s != "netfront"))
      return ConfigError{"uplink.kind: must be \"netfront\" (xfwd's own, toward sys-net) or \"packet\" (AF_PACKET on uplink.interface)"};
    c.uplink.netfront = *s == "netfront";
  }
  if (c.uplink.netfront && !c.uplink.interface.empty())
    return ConfigError{"uplink.interface: not with kind = \"netfront\" (xfwd drives the vif itself: no kernel interface)"};
  if (t.get("kind") && !c.uplink.netfront && c.uplink.interface.empty())
    return ConfigError{"uplink.kind: \"packet\" needs uplink.interface"};
  if (t.get("vif") && !c.uplink.netfront) return ConfigError{"uplink.vif: only with kind = \"netfront\""};
  int64_t vif = 0;
  if (!p.integer(t, "uplink", "vif", 0, 65535, vif)) return ConfigError{p.error};
  if (t.get("vif")) c.uplink.vif = uint32_t(vif);
  packet::Ipv4Addr a, g;
  if (!p.address(t, "uplink", "address", a) || !p.address(t, "uplink", "gateway", g))
    return ConfigError{p.error};
  if (t.get("address")) c.pipeline.uplink_addr = a;
  if (t.get("gateway")) c.pipeline.uplink_gateway = g;
  packet::Ipv6Addr a6, g6;
  if (!p.address6(t, "uplink", "address6", a6) || !p.address6(t, "uplink", "gateway6", g6))
    return ConfigError{p.error};
  if (t.get("address6")) c.pipeline.uplink_addr6 = a6;
  if (t.get("gateway6")) c.pipeline.uplink_gateway6 = g6;
  if (bool(c.pipeline.uplink_addr6) != bool(c.pipeline.uplink_gateway6))
    return ConfigError{"uplink: address6 and gateway6 go together"};
  if (const auto* n = t.get("mac")) {
    packet::MacAddr m;
    if (!p.parsed(*n, "uplink.mac", "a MAC address", m)) return ConfigError{p.error};
    c.uplink.mac = m;
  }
  return std::nullopt;
}

std::optional<ConfigError> parse_firewall(Parser& p, const toml::table& t, Config& c) {
  if (!p.check_keys(t, "firewall.", {"gateway", "gateway6", "dns", "resolvers", "reject", "inter_vm", "dhcp", "max_flows",
                                     "max_flows_per_vm", "vms_without_rules"}))
    return ConfigError{p.error};
  auto& pc = c.pipeline;
  if (!p.address(t, "firewall", "gateway", pc.gateway) ||
      !p.addresses(t, "firewall", "dns", pc.dns_virtual) ||
      !p.addresses(t, "firewall", "resolvers", pc.resolvers) ||
      !p.boolean(t, "firewall", "reject", pc.reject) ||
      !p.boolean(t, "firewall", "inter_vm", pc.inter_vm) ||
      !p.boolean(t, "firewall", "dhcp", pc.dhcp) ||
      !p.integer(t, "firewall", "max_flows", 16, 16 * 1024 * 1024, pc.limits.max_flows) ||
      !p.integer(t, "firewall", "max_flows_per_vm", 1, 16 * 1024 * 1024, pc.limits.max_flows_per_vif))
    return ConfigError{p.error};
  c.resolvers_set = t.get("resolvers") != nullptr;
  packet::Ipv6Addr gw6;
  if (!p.address6(t, "firewall", "gateway6", gw6)) return ConfigError{p.error};
  if (t.get("gateway6")) pc.gateway6 = gw6;
  if (const auto* n = t.get("vms_without_rules")) {
    const auto s = n->value_exact<std::string>();
    if (!s || (*s != "drop" && *s != "accept"))
      return ConfigError{"firewall.vms_without_rules: must be \"drop\" or \"accept\""};
    c.accept_without_rules = *s == "accept";
  }
  return std::nullopt;
}

std::optional<ConfigError> parse_self(Parser& p, const toml::table& t, Config& c) {
  if (!p.check_keys(t, "self.", {"interface", "address"})) return ConfigError{p.error};
  const auto* n = t.get("interface");
  const auto s = n ? n->value_exact<std::string>() : std::nullopt;
  if (!s || s->empty() || s->size() > 15 || s->find('/') != std::string::npos)
    return ConfigError{"self.interface: must be an interface name (1 to 15 characters)"};
  c.self.interface = *s;
  if (!t.get("address")) return ConfigError{"self.address: missing"};
  if (!p.address(t, "self", "address", c.self.address)) return ConfigError{p.error};
  return std::nullopt;
}

std::optional<ConfigError> parse_path(const toml::table& t, const std::string& section, const char* key,
                                      std::string& out, bool absolute) {
  const auto* n = t.get(key);
  if (!n) return std::nullopt;
  const auto s = n->value_exact<std::string>();
  if (!s || s->empty() || s->size() > 200 || (absolute && (*s)[0] != '/'))
    return ConfigError{section + "." + key + (absolute ? ": must be an absolute path" : ": must be a name")};
  out = *s;
  return std::nullopt;
}

std::optional<ConfigError> parse_rules(const toml::table& t, Config& c) {
  for (const auto& [vm, node] : t) {
    const std::string name = "rules." + std::string(vm.str());
    const auto* arr = node.as_array();
    if (!arr) return ConfigError{name + ": must be a list of rules"};
    auto& list = c.rules[std::string(vm.str())];
    for (std::size_t i = 0; i < arr->size(); ++i) {
      const std::string at = name + "[" + std::to_string(i) + "]";
      const auto text = (*arr)[i].value_exact<std::string>();
      if (!text) return ConfigError{at + ": must be a rule in quotes"};
      auto r = firewall::parse_rule(*text);
      if (const auto* e = std::get_if<firewall::RuleError>(&r))
        return ConfigError{at + ": " + e->message + "\n" + firewall::format_error(*text, *e)};
      list.push_back(std::get<firewall::Rule>(r));
    }
  }
  return std::nullopt;
}

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
  if (!p.check_keys(root, "", {"log", "netback", "uplink", "firewall", "self", "control", "state", "qubesdb", "rules"}))
    return ConfigError{p.error};
  for (const char* section : {"uplink", "firewall", "self", "control", "state", "qubesdb", "rules"}) {
    const auto* node = root.get(section);
    if (node && !node->as_table()) return ConfigError{std::string(section) + ": must be a table"};
  }
  if (const auto* t = root["uplink"].as_table())
    if (auto e = parse_uplink(p, *t, c)) return *e;
  if (const auto* t = root["firewall"].as_table())
    if (auto e = parse_firewall(p, *t, c)) return *e;
  if (const auto* t = root["self"].as_table())
    if (auto e = parse_self(p, *t, c)) return *e;
  if (const auto* t = root["control"].as_table()) {
    if (!p.check_keys(*t, "control.", {"socket", "group"})) return ConfigError{p.error};
    if (auto e = parse_path(*t, "control", "socket", c.control_socket, true)) return *e;
    if (auto e = parse_path(*t, "control", "group", c.control_group, false)) return *e;
  }
  if (const auto* t = root["state"].as_table()) {
    if (!p.check_keys(*t, "state.", {"directory", "connections"})) return ConfigError{p.error};
    if (auto e = parse_path(*t, "state", "directory", c.state_dir, true)) return *e;
    std::string conn;
    if (auto e = parse_path(*t, "state", "connections", conn, true)) return *e;
    if (!conn.empty()) c.connections_file = conn;
  }
  if (const auto* t = root["qubesdb"].as_table()) {
    if (!p.check_keys(*t, "qubesdb.", {"enabled", "socket"}) || !p.boolean(*t, "qubesdb", "enabled", c.qubesdb.enabled))
      return ConfigError{p.error};
    if (auto e = parse_path(*t, "qubesdb", "socket", c.qubesdb.socket, true)) return *e;
    if (c.qubesdb.enabled && c.accept_without_rules)
      return ConfigError{"firewall.vms_without_rules: must be \"drop\" with qubesdb.enabled (a client gets "
                         "the policy drop until dom0's rules for it arrive)"};
  }
  if (const auto* t = root["rules"].as_table())
    if (auto e = parse_rules(*t, c)) return *e;
  if (c.uplink.enabled() && !c.qubesdb.enabled && (!c.pipeline.uplink_addr || !c.pipeline.uplink_gateway))
    return ConfigError{std::string("uplink: ") + (c.uplink.netfront ? "kind = \"netfront\"" : "interface") +
                       " needs address and gateway too (or qubesdb.enabled: QubesDB's /qubes-ip and /qubes-gateway)"};

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

std::vector<packet::Ipv4Addr> resolv_conf_nameservers(std::string_view text) {
  std::vector<packet::Ipv4Addr> out;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string key, value;
    if (words >> key >> value && key == "nameserver")
      if (const auto a = packet::Ipv4Addr::parse(value)) out.push_back(*a);
  }
  return out;
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
