#include "ctl/files.h"

#include <cstdint>
#include <fstream>

#include "firewall/rule.h"
#include "qubesdb/firewall_dir.h"

namespace xfw::ctl {
namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

// Reads `path` line by line; `line_fn(number, text)` gets each non-blank, non-comment line.
template <class F>
void each_line(const std::string& path, F&& line_fn) {
  std::ifstream f(path);
  if (!f) throw FileError{"cannot read " + path};
  std::string line;
  for (int n = 1; std::getline(f, line); ++n) {
    const std::string t = trim(line);
    if (!t.empty() && t[0] != '#') line_fn(n, t);
  }
}

void check_rule(const std::string& path, int n, const std::string& text) {
  auto r = firewall::parse_rule(text);
  if (const auto* e = std::get_if<firewall::RuleError>(&r))
    throw FileError{path + ":" + std::to_string(n) + ": " + e->message + "\n" + firewall::format_error(text, *e)};
}

}  // namespace

std::vector<std::string> read_rule_file(const std::string& path) {
  std::vector<std::string> out;
  each_line(path, [&](int n, const std::string& t) {
    check_rule(path, n, t);
    out.push_back(t);
  });
  return out;
}

std::map<std::string, std::vector<std::string>> read_apply_file(const std::string& path) {
  std::map<std::string, std::vector<std::string>> out;
  std::string vm;
  each_line(path, [&](int n, const std::string& t) {
    if (t.front() == '[') {
      if (t.back() != ']' || t.size() < 3) throw FileError{path + ":" + std::to_string(n) + ": expected [VM]"};
      vm = t.substr(1, t.size() - 2);
      if (out.count(vm)) throw FileError{path + ":" + std::to_string(n) + ": [" + vm + "] appears twice"};
      out[vm];
      return;
    }
    if (vm.empty()) throw FileError{path + ":" + std::to_string(n) + ": a rule before any [VM] line"};
    check_rule(path, n, t);
    out[vm].push_back(t);
  });
  return out;
}

std::map<std::string, std::vector<std::string>> read_qubesdb_dump(const std::string& path) {
  struct Dir {
    std::map<std::string, std::string> leaves;  // as qubesdb/firewall_dir.h reads them
    std::map<std::string, int> lines;
  };
  std::map<std::string, Dir> dirs;
  std::ifstream f(path);
  if (!f) throw FileError{"cannot read " + path};
  std::string line;
  for (int n = 1; std::getline(f, line); ++n) {
    if (trim(line).empty()) continue;
    const auto at = [&](const std::string& m) { return FileError{path + ":" + std::to_string(n) + ": " + m}; };
    const auto eq = line.find(" = ");
    if (eq == std::string::npos) throw at("expected PATH = VALUE");
    std::string key = line.substr(0, eq);
    const std::string value = trim(line.substr(eq + 3));
    if (key.rfind(qubesdb::kFirewallRoot, 0) == 0) key = key.substr(qubesdb::kFirewallRoot.size());
    const auto slash = key.find('/');
    const std::string ip = key.substr(0, slash);
    if (!qubesdb::valid_client_address(ip)) throw at("not an address: " + ip);
    Dir& dir = dirs[ip];
    if (slash == std::string::npos) continue;  // "/qubes-firewall/<ip> =": the update marker
    const std::string leaf = key.substr(slash + 1);
    if (leaf.size() == 4 && leaf.find_first_not_of("0123456789") == std::string::npos)
      check_rule(path, n, value);  // a bad rule: its line and a caret under the word
    dir.leaves[leaf] = value;
    dir.lines[leaf] = n;
  }
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& [ip, dir] : dirs) {
    const qubesdb::FirewallDir d = qubesdb::parse_firewall_dir(dir.leaves);
    if (!d.error.empty()) {
      const auto l = dir.lines.find(d.error_key);
      throw FileError{path + (l == dir.lines.end() ? "" : ":" + std::to_string(l->second)) + ": " + ip + ": " + d.error};
    }
    for (const auto& r : d.rules) out[ip].push_back(firewall::to_string(r));
  }
  return out;
}

std::pair<std::string, std::optional<uint16_t>> split_destination(const std::string& dst) {
  auto port_of = [&](const std::string& p) -> uint16_t {
    if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos || std::stoul(p) > 65535)
      throw FileError{"bad port in " + dst};
    return uint16_t(std::stoul(p));
  };
  if (!dst.empty() && dst[0] == '[') {
    const auto close = dst.find(']');
    if (close == std::string::npos) throw FileError{"bad destination " + dst + " (expected [IPv6]:PORT)"};
    if (close + 1 == dst.size()) return {dst.substr(1, close - 1), std::nullopt};
    if (dst[close + 1] != ':') throw FileError{"bad destination " + dst};
    return {dst.substr(1, close - 1), port_of(dst.substr(close + 2))};
  }
  const auto colon = dst.find(':');
  if (colon != std::string::npos && dst.find(':', colon + 1) == std::string::npos)
    return {dst.substr(0, colon), port_of(dst.substr(colon + 1))};  // IPv4:PORT
  return {dst, std::nullopt};
}

}  // namespace xfw::ctl
