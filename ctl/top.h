// ctl/top.h — `xfwctl top`: a live view of the VMs by rate, redrawn every second (ncurses).
//
//   VM  DOMID  IN pkt/s  IN B/s  OUT pkt/s  OUT B/s  CONNS  DROPS/s    (IN: from the VM)
// and below, the drops per second by reason. Keys: i / o / c / d / n sort by IN bytes, OUT
// bytes, connections, drops, name; q quits. Rates are the difference between two polls of
// xfwd's counters (`vifs`, `stats`) divided by the time between them.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>

namespace xfw::ctl {

// `call` sends one request and returns its result (throwing on refusal). Returns the exit
// status: 0 after q, 2 when there is no terminal.
int run_top(const std::function<nlohmann::json(const nlohmann::json&)>& call);

}  // namespace xfw::ctl
