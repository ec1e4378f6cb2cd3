#include "ctl/files.h"

#include <cstdint>
#include <fstream>

#include "firewall/rule.h"

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
