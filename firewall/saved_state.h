// firewall/saved_state.h — what a running pipeline keeps across a restart of xfwd: its
// connections with their NAT bindings and timers, the later-fragment bindings, the addresses
// dsthost names resolved to, the uplink gateway's MAC. Pipeline::save() gives it,
// Pipeline::restore() takes it back (daemon/state_file.h stores it in /run/xfw).
//
// Times are on the clock the pipeline is given (CLOCK_MONOTONIC milliseconds), which a new xfwd
// process of the same boot shares. A flow is tied to its client by the vif's identity (domain
// id and device id, never a slot of the process that wrote it) and must come from one of that
// vif's addresses.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "firewall/host_resolver.h"
#include "nat/conntrack.h"
#include "nat/fragments.h"
#include "packet/addr.h"

namespace xfw::firewall {

struct SavedFlow {
  nat::Flow flow;          // keys, NAT port, TCP state, rule and expiry; its vif fields unused
  uint16_t domid = 0;      // the client's vif (domid 0: the firewall VM's own TAP)
  uint32_t devid = 0;
  friend bool operator==(const SavedFlow&, const SavedFlow&) = default;
};

struct SavedFragment {
  bool from_uplink = false;    // the binding of fragments coming back (else: from a client)
  nat::Fragments::Entry entry;  // entry.flow: an index into SavedState::flows
  friend bool operator==(const SavedFragment&, const SavedFragment&) = default;
};

using SavedHost = HostResolver::Known;  // a dsthost name's addresses and refresh times

struct SavedState {
  // The configuration the state belongs to (Pipeline::state_identity()): a state written for
  // another uplink address, NAT port range or resolvers is refused whole.
  std::string identity;
  std::optional<packet::MacAddr> gateway_mac, gateway6_mac;
  int64_t gateway_heard = 0;
  std::vector<SavedFlow> flows;
  std::vector<SavedFragment> fragments;
  std::vector<SavedHost> hosts;
  friend bool operator==(const SavedState&, const SavedState&) = default;
};

// What adoption did with the saved connections, for the log and `xfwctl status`.
struct AdoptStats {
  std::size_t adopted = 0;
  std::size_t forbidden = 0;  // the current rules refuse them: cut, as on a rule change
  std::size_t refused = 0;    // over a limit (table, per VM) or their keys already taken
  std::size_t expired = 0;
  std::size_t waiting = 0;    // their vif is not (yet) back
  std::size_t abandoned = 0;  // their vif did not come back in time
  friend bool operator==(const AdoptStats&, const AdoptStats&) = default;
};
// "3 adopted, 1 cut by the rules, 0 over a limit or taken, 0 expired": what changed since `before`.
[[nodiscard]] std::string summary(const AdoptStats& now, const AdoptStats& before = {});

}  // namespace xfw::firewall
