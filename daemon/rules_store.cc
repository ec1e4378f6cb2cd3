#include "daemon/rules_store.h"

#include "daemon/atomic_file.h"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace xfw::daemon {
namespace {

std::string sys_error(const std::string& what) { return what + ": " + std::strerror(errno); }

}  // namespace

bool valid_vm_name(const std::string& vm) {
  if (vm.empty() || vm.size() > 64) return false;
  for (char c : vm)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != ':' && c != '-') return false;
  return true;
}

std::variant<std::optional<RuleMap>, StoreError> load_rules(const std::string& path) {
  std::ifstream f(path);
  if (!f) {
    if (errno == ENOENT) return std::optional<RuleMap>{};
    return StoreError{sys_error(path)};
  }
  std::ostringstream text;
  text << f.rdbuf();
  const auto j = nlohmann::json::parse(text.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("version", 0) != 1 || !j.contains("rules") ||
      !j["rules"].is_object())
    return StoreError{path + ": not a version 1 rules file"};
  RuleMap out;
  for (const auto& [vm, list] : j["rules"].items()) {
    if (!valid_vm_name(vm)) return StoreError{path + ": bad VM name \"" + vm + "\""};
    if (!list.is_array()) return StoreError{path + ": " + vm + ": not a list of rules"};
    auto& rules = out[vm];
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (!list[i].is_string()) return StoreError{path + ": " + vm + " rule " + std::to_string(i) + ": not a string"};
      const auto text_rule = list[i].get<std::string>();
      auto r = firewall::parse_rule(text_rule);
      if (const auto* e = std::get_if<firewall::RuleError>(&r))
        return StoreError{path + ": " + vm + " rule " + std::to_string(i) + ": " + e->message};
      rules.push_back(std::get<firewall::Rule>(r));
    }
  }
  return std::optional<RuleMap>{std::move(out)};
}

std::optional<StoreError> save_rules(const std::string& path, const RuleMap& rules) {
  nlohmann::json j;
  j["version"] = 1;
  j["rules"] = nlohmann::json::object();
  for (const auto& [vm, list] : rules) {
    auto& arr = j["rules"][vm] = nlohmann::json::array();
    for (const auto& r : list) arr.push_back(firewall::to_string(r));
  }
  if (auto e = replace_file(path, j.dump(2) + "\n", true)) return StoreError{*e};
  return std::nullopt;
}

}  // namespace xfw::daemon
