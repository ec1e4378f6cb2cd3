#include "daemon/rules_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace xfw::daemon {
namespace {

std::string sys_error(const std::string& what) { return what + ": " + std::strerror(errno); }

bool write_all(int fd, const std::string& s) {
  std::size_t done = 0;
  while (done < s.size()) {
    const ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += std::size_t(n);
  }
  return true;
}

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
  const std::string text = j.dump(2) + "\n";
  const auto slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return StoreError{sys_error(tmp)};
  if (!write_all(fd, text) || ::fsync(fd) != 0) {
    const auto e = StoreError{sys_error(tmp)};
    ::close(fd);
    ::unlink(tmp.c_str());
    return e;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const auto e = StoreError{sys_error("rename to " + path)};
    ::unlink(tmp.c_str());
    return e;
  }
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
  return std::nullopt;
}

}  // namespace xfw::daemon
