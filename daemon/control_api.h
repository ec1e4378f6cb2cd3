// daemon/control_api.h — what each control command does (the protocol is in control.h).
//
// Commands (JSON "command", arguments as fields; results in "result"):
//   status                       version, uptime, uplink, vifs, flows
//   vifs                         every attached vif with counters
//   rules.list [vm]              rules of one VM or all (and "sources": local | qubesdb,
//                                "refused": why QubesDB's rules of a VM were refused)
//   rules.add vm rule [before]   insert (before rule N, else at the end)
//   rules.del vm number
//   rules.replace vm rules[]     one VM's list, at once
//   rules.apply rules{vm:[..]}   every VM's lists at once (VMs left out lose their rules)
//   rules.merge rules{vm:[..]}   the given VMs' lists at once (the others keep theirs)
//   rules.explain vm proto dst [port] [icmp_type]
//   conntrack [vm]  /  conntrack.flush vm
//   stats                        drops per reason (pipeline and netback), per vif
//   drops [follow]               recent drops; with follow, new ones stream as events
//   capture target [after_nat] [drops] [filter] [snaplen] [count]
//                                frames stream as events (capture.h) until the client closes
//                                its side, `count` were sent, or xfwd stops
// A rule change is checked whole, written to the state directory (rules_store.h) and only then
// applied; if either fails nothing changes. Errors in rules name the rule's number and carry
// the bad word's offset and length.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <variant>

#include "daemon/control.h"
#include "daemon/dataplane.h"
#include "daemon/qubesdb_link.h"
#include "daemon/rules_store.h"
#include "netback/netback.h"

namespace xfw::daemon {

struct ControlContext {
  netback::Netback& nb;
  Dataplane& dp;
  RuleMap& rules;           // what is applied (and stored)
  std::string rules_path;   // the state file; "" = not persisted
  std::string uplink;       // interface name, "" if none
  int64_t started_ms = 0;   // steady clock
  const QubesDbLink* qubesdb = nullptr;  // [qubesdb] enabled: its rules are not xfwctl's to change
  std::vector<std::shared_ptr<ControlServer::Stream>> drop_followers;  // `drops --follow`
};
inline constexpr std::size_t kMaxCaptures = 16;


[[nodiscard]] ControlServer::Reply handle_control(ControlContext& ctx, const nlohmann::json& req);
[[nodiscard]] nlohmann::json drop_json(const DropRecord& d, bool with_bytes);
// A recorded drop to every `drops --follow` stream.
void publish_drop(ControlContext& ctx, const DropRecord& d);
// Applies a whole new rule map to the pipeline (after it was stored); returns flows cut. VMs
// whose rules come from QubesDB are left alone (`qubesdb` may be null).
std::size_t apply_rules(firewall::Pipeline& pl, const RuleMap& old_rules, const RuleMap& new_rules,
                        const QubesDbLink* qubesdb = nullptr);
// Stores `next` in the state directory, then applies it: the flows cut, or why nothing changed.
// A change to a VM whose rules come from QubesDB is refused whole (dom0 owns them).
std::variant<std::size_t, StoreError> commit_rules(ControlContext& ctx, RuleMap next);
// Removes the local rules whose expire= time (UNIX seconds) is not after `now`: stored, then
// applied; if storing fails they are removed from the pipeline all the same (an expired rule
// never keeps a door open), and `error` says why. Returns how many were removed.
std::size_t expire_rules(ControlContext& ctx, int64_t now, std::string* error);

}  // namespace xfw::daemon
