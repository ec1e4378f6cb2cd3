// daemon/rules_store.h — the rules of every VM, kept in the state directory across restarts.
//
// One JSON file (default /var/lib/xfw/rules.json):
//   {"version": 1, "rules": {"work": ["action=accept proto=tcp dstports=443-443", ...], ...}}
// keyed by VM name (or address), so rules exist before the VM runs. save() is atomic: it writes
// a temporary file in the same directory, fsyncs it, renames it over the old one and fsyncs the
// directory, so a crash at any point leaves the old file or the new one, never a mix. load()
// checks every rule; a file with an error is refused whole, with the VM, the rule number and the
// reason.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "firewall/rule.h"

namespace xfw::daemon {

using RuleMap = std::map<std::string, std::vector<firewall::Rule>>;

struct StoreError {
  std::string message;
};

// nullopt: there is no file yet (a first start).
[[nodiscard]] std::variant<std::optional<RuleMap>, StoreError> load_rules(const std::string& path);
[[nodiscard]] std::optional<StoreError> save_rules(const std::string& path, const RuleMap& rules);

// VM names: what a Qubes VM name or an address may look like (1..64 of [A-Za-z0-9_.:-]).
[[nodiscard]] bool valid_vm_name(const std::string& vm);

}  // namespace xfw::daemon
