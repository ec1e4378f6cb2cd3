// xfwd's configuration: defaults, every key, and errors that name the key.
#include <gtest/gtest.h>

#include "daemon/config.h"

namespace xfw::daemon {
namespace {

std::string error_of(std::string_view text) {
  const auto r = parse_config(text);
  const auto* e = std::get_if<ConfigError>(&r);
  return e ? e->message : "(no error)";
}

TEST(Config, EmptyMeansDefaults) {
  const auto r = parse_config("");
  ASSERT_TRUE(std::holds_alternative<Config>(r));
  EXPECT_EQ(std::get<Config>(r).log_level, "info");
  EXPECT_EQ(std::get<Config>(r).netback.limits.tx_budget, 64u);
  EXPECT_FALSE(std::get<Config>(r).pipeline.dhcp) << "Qubes assigns addresses statically";
}

TEST(Config, EveryKey) {
  const auto r = parse_config(R"(
[log]
level = "debug"
[netback]
rx_queue_bytes = 65536
rx_stall_timeout_ms = 2000
tx_budget = 32
rx_budget = 16
write_hotplug_status = false
)");
  ASSERT_TRUE(std::holds_alternative<Config>(r)) << std::get<ConfigError>(r).message;
  const auto& c = std::get<Config>(r);
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.netback.limits.rx_queue_bytes, 65536u);
  EXPECT_EQ(c.netback.limits.rx_stall_timeout, std::chrono::milliseconds(2000));
  EXPECT_EQ(c.netback.limits.tx_budget, 32u);
  EXPECT_EQ(c.netback.limits.rx_budget, 16u);
  EXPECT_FALSE(c.netback.write_hotplug_status);
}

TEST(Config, ErrorsNameTheKey) {
  EXPECT_EQ(error_of("[netback]\ntx_budget = 0\n"),
            "netback.tx_budget: must be between 1 and 256, got 0");
  EXPECT_EQ(error_of("[netback]\nrx_budget = \"many\"\n"), "netback.rx_budget: must be an integer");
  EXPECT_EQ(error_of("[netback]\nrx_queue_bytes = 1\n"),
            "netback.rx_queue_bytes: must be between 16384 and 67108864, got 1");
  EXPECT_EQ(error_of("[netback]\ntx_bugdet = 3\n"), "netback.tx_bugdet: unknown key");
  EXPECT_EQ(error_of("[bridge]\n"), "bridge: unknown key");
  EXPECT_EQ(error_of("[log]\nlevel = \"loud\"\n"),
            "log.level: must be one of trace, debug, info, warn, error");
  EXPECT_EQ(error_of("log = 3\n"), "log: must be a table");
  EXPECT_EQ(error_of("[netback]\nwrite_hotplug_status = 1\n"),
            "netback.write_hotplug_status: must be true or false");
  EXPECT_EQ(error_of("[netback\n").substr(0, 7), "line 1:");
}

TEST(Config, FirewallUplinkAndRules) {
  const auto r = parse_config(R"(
[uplink]
interface = "eth1"
address = "192.168.100.2"
gateway = "192.168.100.1"
mac = "02:00:00:00:00:02"
address6 = "fd00:100::2"
gateway6 = "fd00:100::1"
[firewall]
gateway = "10.137.0.7"
gateway6 = "fd09::1"
dns = ["10.139.1.1"]
resolvers = ["192.168.100.1", "192.168.100.3"]
reject = false
inter_vm = true
dhcp = true
max_flows = 1000
max_flows_per_vm = 10
vms_without_rules = "accept"
[self]
interface = "xfw0"
address = "10.137.255.254"
[rules]
work = ["action=accept proto=tcp dstports=443-443", "action=drop"]
untrusted = []
)");
  ASSERT_TRUE(std::holds_alternative<Config>(r)) << std::get<ConfigError>(r).message;
  const auto& c = std::get<Config>(r);
  EXPECT_EQ(c.uplink.interface, "eth1");
  EXPECT_EQ(c.pipeline.uplink_addr->str(), "192.168.100.2");
  EXPECT_EQ(c.pipeline.uplink_gateway->str(), "192.168.100.1");
  EXPECT_EQ(c.uplink.mac->str(), "02:00:00:00:00:02");
  EXPECT_EQ(c.pipeline.gateway.str(), "10.137.0.7");
  EXPECT_EQ(c.pipeline.gateway6->str(), "fd09::1");
  EXPECT_EQ(c.pipeline.uplink_addr6->str(), "fd00:100::2");
  EXPECT_EQ(c.pipeline.uplink_gateway6->str(), "fd00:100::1");
  EXPECT_EQ(c.pipeline.dns_virtual.size(), 1u);
  EXPECT_EQ(c.pipeline.resolvers.size(), 2u);
  EXPECT_TRUE(c.resolvers_set);
  EXPECT_FALSE(c.pipeline.reject);
  EXPECT_TRUE(c.pipeline.inter_vm);
  EXPECT_TRUE(c.pipeline.dhcp);
  EXPECT_EQ(c.pipeline.limits.max_flows, 1000u);
  EXPECT_EQ(c.pipeline.limits.max_flows_per_vif, 10u);
  EXPECT_TRUE(c.accept_without_rules);
  EXPECT_EQ(c.rules.at("work").size(), 2u);
  EXPECT_EQ(c.self.interface, "xfw0");
  EXPECT_EQ(c.self.address.str(), "10.137.255.254");
  EXPECT_EQ(c.rules.at("untrusted").size(), 0u);
}

TEST(Config, FirewallErrorsNameTheKey) {
  EXPECT_EQ(error_of("[uplink]\naddress = \"192.168.1\"\n"), "uplink.address: must be an IPv4 address in quotes");
  EXPECT_EQ(error_of("[uplink]\ninterface = \"eth0\"\n"), "uplink: interface needs address and gateway too (or qubesdb.enabled: QubesDB's /qubes-ip and /qubes-gateway)");
  EXPECT_EQ(error_of("[uplink]\ninterface = \"a/b\"\n"), "uplink.interface: must be an interface name (1 to 15 characters)");
  EXPECT_EQ(error_of("[firewall]\nresolvers = [\"1.2.3.4\", 5]\n"), "firewall.resolvers[1]: must be an IPv4 address in quotes");
  EXPECT_EQ(error_of("[firewall]\nreject = \"yes\"\n"), "firewall.reject: must be true or false");
  EXPECT_EQ(error_of("[uplink]\naddress6 = \"fd00::1\"\n"), "uplink: address6 and gateway6 go together");
  EXPECT_EQ(error_of("[firewall]\ngateway6 = \"10.0.0.1\"\n"), "firewall.gateway6: must be an IPv6 address in quotes");
  EXPECT_EQ(error_of("[firewall]\nmax_flows = 1\n"), "firewall.max_flows: must be between 16 and 16777216, got 1");
  EXPECT_EQ(error_of("[firewall]\nvms_without_rules = \"maybe\"\n"), "firewall.vms_without_rules: must be \"drop\" or \"accept\"");
  EXPECT_EQ(error_of("[firewall]\npolicy = 1\n"), "firewall.policy: unknown key");
  EXPECT_EQ(error_of("rules = 1\n"), "rules: must be a table");
  EXPECT_EQ(error_of("[self]\ninterface = \"xfw0\"\n"), "self.address: missing");
  EXPECT_EQ(error_of("[self]\naddress = \"10.0.0.1\"\n"), "self.interface: must be an interface name (1 to 15 characters)");
  EXPECT_EQ(error_of("[rules]\nwork = \"action=accept\"\n"), "rules.work: must be a list of rules");
  EXPECT_EQ(error_of("[rules]\nwork = [\"action=accept\", \"action=accept proto=tcp dstports=443-80\"]\n"),
            "rules.work[1]: dstports: low port 443 is above high port 80\n"
            "action=accept proto=tcp dstports=443-80\n"
            "                        ^^^^^^^^^^^^^^^ dstports: low port 443 is above high port 80");
}

TEST(Config, ResolvConf) {
  const auto ns = resolv_conf_nameservers("# comment\nnameserver 192.0.2.53\nsearch x\nnameserver fe80::1\nnameserver 10.0.0.1\n");
  ASSERT_EQ(ns.size(), 2u);
  EXPECT_EQ(ns[0].str(), "192.0.2.53");
  EXPECT_EQ(ns[1].str(), "10.0.0.1");
}

TEST(Config, Files) {
  EXPECT_TRUE(std::holds_alternative<Config>(load_config("/nonexistent/xfwd.toml", true)));
  const auto r = load_config("/nonexistent/xfwd.toml", false);
  ASSERT_TRUE(std::holds_alternative<ConfigError>(r));
  EXPECT_EQ(std::get<ConfigError>(r).message, "cannot read the file");
}

TEST(Config, QubesDb) {
  const auto r = parse_config("[uplink]\ninterface = \"eth0\"\n[qubesdb]\nenabled = true\n");
  ASSERT_TRUE(std::holds_alternative<Config>(r)) << error_of("[uplink]\ninterface = \"eth0\"\n[qubesdb]\nenabled = true\n");
  const Config& c = std::get<Config>(r);
  EXPECT_TRUE(c.qubesdb.enabled);
  EXPECT_EQ(c.qubesdb.socket, "/var/run/qubes/qubesdb.sock");
  EXPECT_FALSE(c.pipeline.uplink_addr);  // QubesDB's /qubes-ip will say
  EXPECT_FALSE(std::get<Config>(parse_config("")).qubesdb.enabled);
  EXPECT_EQ(std::get<Config>(parse_config("[qubesdb]\nsocket = \"/run/q.sock\"\n")).qubesdb.socket, "/run/q.sock");
  EXPECT_EQ(error_of("[qubesdb]\nenabled = 1\n"), "qubesdb.enabled: must be true or false");
  EXPECT_EQ(error_of("[qubesdb]\nsocket = \"q.sock\"\n"), "qubesdb.socket: must be an absolute path");
  EXPECT_EQ(error_of("[qubesdb]\npath = \"/q\"\n"), "qubesdb.path: unknown key");
  EXPECT_EQ(error_of("qubesdb = 1\n"), "qubesdb: must be a table");
  EXPECT_EQ(error_of("[firewall]\nvms_without_rules = \"accept\"\n[qubesdb]\nenabled = true\n"),
            "firewall.vms_without_rules: must be \"drop\" with qubesdb.enabled (a client gets the policy drop "
            "until dom0's rules for it arrive)");
}

}  // namespace
}  // namespace xfw::daemon
