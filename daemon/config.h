// daemon/config.h — xfwd's configuration file (TOML), parsed strictly.
//
//   [log]
//   level = "info"                 # trace | debug | info | warn | error
//   [netback]
//   rx_queue_bytes = 524288        # per vif, 16 KiB .. 64 MiB
//   rx_stall_timeout_ms = 10000    # 100 .. 3600000
//   tx_budget = 64                 # packets per pass, 1 .. 256
//   rx_budget = 64
//   write_hotplug_status = true
//   [uplink]                       # where client traffic goes, masqueraded
//   kind = "netfront"              # xfwd's own netfront toward sys-net (a Xen driver domain's
//                                  # uplink vif; no kernel driver faces sys-net), or "packet":
//                                  # AF_PACKET on `interface` (default when interface is set)
//   vif = 0                        # netfront: device/vif/<n> (default: the lowest there)
//   interface = "eth0"             # packet: carries no IPv4 address of the kernel's: xfwd owns it
//   address = "192.168.100.2"      # xfwd's own address there (answers ARP for it)
//   gateway = "192.168.100.1"      # next hop
//   address6 = "fd00:100::2"       # optional IPv6 (NAT66), with gateway6
//   gateway6 = "fd00:100::1"
//   mac = "02:00:00:00:00:02"      # optional, default: the interface's (the vif's) MAC
//   [firewall]
//   gateway = "10.137.0.1"         # the firewall's address on client links
//   gateway6 = "fd09:24ef:4179::a89:1"   # and its IPv6 address (optional)
//   dns = ["10.139.1.1", "10.139.1.2"]   # the virtual DNS servers clients use
//   resolvers = ["192.168.100.1"]  # real upstream DNS (default: nameservers of /etc/resolv.conf)
//   reject = true                  # answer drops with ICMP admin-prohibited / TCP RST
//   inter_vm = false               # let client VMs connect to each other
//   dhcp = false                   # answer DHCP with the vif's own address (not in Qubes)
//   max_flows = 65536              # connection table size
//   max_flows_per_vm = 8192
//   vms_without_rules = "drop"     # rules of a VM missing from [rules]: "drop" or "accept"
//   [self]                         # the firewall VM's own traffic, through xfwd (optional)
//   interface = "xfw0"             # a TAP xfwd creates and routes (default route) through
//   address = "10.137.255.254"     # the kernel's address on it; rules key: "self"
//   [control]
//   socket = "/run/xfw/control.sock"
//   group = "xfw"                  # may use xfwctl besides root (a missing group: root only)
//   [state]
//   directory = "/var/lib/xfw"     # rules.json: the rules xfwctl manages, kept across restarts
//   connections = "/run/xfw/connections"   # the connections a restarted xfwd takes back
//   [qubesdb]                      # rules, addresses and DNS from dom0, as in Qubes OS
//   enabled = false                # needs vms_without_rules = "drop"
//   socket = "/var/run/qubes/qubesdb.sock"   # the firewall VM's own QubesDB daemon
//   [rules]                        # the first rules, used while the state has none; SIGHUP
//                                  # loads them again (into the state)
//   work = ["action=accept"]
//
// Unknown keys and bad values are errors that name the key; load_config() never throws.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "firewall/pipeline.h"
#include "firewall/rule.h"
#include "netback/netback.h"

namespace xfw::daemon {

struct UplinkConfig {
  bool netfront = false;  // xfwd's own netfront; else AF_PACKET on `interface`
  std::optional<uint32_t> vif;
  std::string interface;  // packet: empty = no uplink (clients reach only the gateway)
  std::optional<packet::MacAddr> mac;
  [[nodiscard]] bool enabled() const { return netfront || !interface.empty(); }
};

struct SelfConfig {
  std::string interface;  // empty: no TAP for the firewall VM's own traffic
  packet::Ipv4Addr address;
};

struct QubesDbConfig {
  bool enabled = false;
  std::string socket = "/var/run/qubes/qubesdb.sock";
};

struct Config {
  std::string log_level = "info";
  std::string control_socket = "/run/xfw/control.sock";
  std::string control_group = "xfw";
  std::string state_dir = "/var/lib/xfw";
  // The connection state kept across restarts (daemon/state_file.h); nullopt: the default,
  // /run/xfw/connections with --xen=real, none with --xen=sim.
  std::optional<std::string> connections_file;
  netback::NetbackConfig netback;
  UplinkConfig uplink;
  SelfConfig self;
  QubesDbConfig qubesdb;
  firewall::PipelineConfig pipeline;
  bool resolvers_set = false;  // else the nameservers of /etc/resolv.conf
  bool accept_without_rules = false;
  std::map<std::string, std::vector<firewall::Rule>> rules;
};

// The IPv4 nameservers of a resolv.conf text.
[[nodiscard]] std::vector<packet::Ipv4Addr> resolv_conf_nameservers(std::string_view text);

struct ConfigError {
  std::string message;  // "netback.tx_budget: must be between 1 and 256, got 0"
};

// Parses TOML text; `origin` names the source in messages.
[[nodiscard]] std::variant<Config, ConfigError> parse_config(std::string_view text);
// Reads and parses a file. A missing file is an error unless `missing_ok` (then defaults).
[[nodiscard]] std::variant<Config, ConfigError> load_config(const std::string& path,
                                                            bool missing_ok);

}  // namespace xfw::daemon
