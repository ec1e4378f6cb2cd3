// ctl/files.h — the rule files xfwctl reads, checked before anything is sent to xfwd.
//
//   rules replace VM --file F     one rule per line (Qubes syntax); blank lines and # comments
//   rules apply FILE              [VM] lines, each followed by that VM's rules:
//                                   [work]
//                                   action=accept proto=tcp dstports=443-443
//                                   [untrusted]
//                                   action=accept specialtarget=dns
// An error names the file and line, and draws a caret under the bad word (FileError).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace xfw::ctl {

struct FileError {
  std::string msg;
};

std::vector<std::string> read_rule_file(const std::string& path);
std::map<std::string, std::vector<std::string>> read_apply_file(const std::string& path);
// A QubesDB dump of the firewall rules, as `qubesdb-multiread -f /qubes-firewall/` prints it
// (relative paths, without -f, too):
//   /qubes-firewall/10.137.0.5 =
//   /qubes-firewall/10.137.0.5/policy = drop
//   /qubes-firewall/10.137.0.5/0000 = action=accept proto=tcp dstports=443-443
// -> per address, the rules as xfwd reads them from QubesDB itself (qubesdb/firewall_dir.h):
// NNNN order (gaps allowed), a policy required; "accept" appends action=accept.
std::map<std::string, std::vector<std::string>> read_qubesdb_dump(const std::string& path);

// "192.0.2.1", "192.0.2.1:443", "2001:db8::1", "[2001:db8::1]:443" -> address, port.
std::pair<std::string, std::optional<uint16_t>> split_destination(const std::string& dst);

}  // namespace xfw::ctl
