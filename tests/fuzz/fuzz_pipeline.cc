// Fuzz target: the whole pipeline on frames from two clients and the uplink, with time moving.
// Input: records [kind][len hi][len lo][frame...]; kind % 4: 0 = from "work", 1 = from
// "untrusted", 2 = from the uplink, 3 = advance the clock by len seconds.
// Invariants checked on everything the pipeline sends:
//  * every frame parses (IPv4 header checksums stay right after NAT);
//  * nothing reaches the uplink with a client's source address (no leak past NAT);
//  * a frame to a vif is addressed to that vif's own address (or is ARP / neighbor discovery).
#include <optional>

#include "firewall/pipeline.h"

using namespace xfw;

namespace {

const packet::Ipv4Addr kWorkIp{{10, 137, 0, 5}}, kUntrustedIp{{10, 137, 0, 6}};
const packet::Ipv6Addr kUntrustedIp6{{0xfd, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 6}};
const packet::MacAddr kMac{{0x00, 0x16, 0x3e, 0x5e, 0x6c, 0x00}};

struct Checker : firewall::Egress {
  void to_uplink(std::span<const std::byte> f, uint16_t gso_size) override {
    const auto r = packet::parse(f);
    const auto* p = std::get_if<packet::Parsed>(&r);
    if (!p) __builtin_trap();
    if (gso_size > 0 && p->proto != packet::ipproto::tcp) __builtin_trap();  // only TCP is segmented
    if (p->l3 == packet::L3::ipv4 && (p->src4 == kWorkIp || p->src4 == kUntrustedIp)) __builtin_trap();
    if (p->l3 == packet::L3::ipv6 && p->src6 == kUntrustedIp6) __builtin_trap();
  }
  void to_vif(netback::VifId v, std::span<const std::byte> f) override {
    const auto r = packet::parse(f);
    const auto* p = std::get_if<packet::Parsed>(&r);
    if (!p) __builtin_trap();
    // To the VM's own address; DHCP answers ([firewall] dhcp) also to broadcast.
    const bool dhcp_broadcast = p->proto == packet::ipproto::udp && p->sport == 67 && p->dport == 68 &&
                                p->dst4 == packet::Ipv4Addr{{255, 255, 255, 255}};
    if (p->l3 == packet::L3::ipv4 && p->dst4 != (v.slot == 0 ? kWorkIp : kUntrustedIp) && !dhcp_broadcast) __builtin_trap();
    if (p->l3 == packet::L3::ipv6 && (v.slot != 1 || (p->dst6 != kUntrustedIp6 && p->icmp_type != 136)))
      __builtin_trap();
  }
};

firewall::Rule rule(const char* t) { return std::get<firewall::Rule>(firewall::parse_rule(t)); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Checker out;
  firewall::PipelineConfig cfg;
  cfg.uplink_addr = packet::Ipv4Addr{{192, 168, 100, 2}};
  cfg.uplink_gateway = packet::Ipv4Addr{{192, 168, 100, 1}};
  cfg.resolvers = {packet::Ipv4Addr{{192, 168, 100, 53}}};
  cfg.gateway6 = packet::Ipv6Addr::parse("fd09::1");
  cfg.uplink_addr6 = packet::Ipv6Addr::parse("fd00:100::2");
  cfg.uplink_gateway6 = packet::Ipv6Addr::parse("fd00:100::1");
  cfg.limits.max_flows = 64;
  cfg.limits.max_flows_per_vif = 16;
  cfg.dhcp = true;
  firewall::Pipeline pl(cfg, out, 1);
  const netback::VifId work{0, 1}, untrusted{1, 1};
  pl.vif_up({work, xen::DomId{5}, 0, "work", kMac, xen::IpList{{kWorkIp}, {}}});
  pl.vif_up({untrusted, xen::DomId{6}, 0, "untrusted", kMac,
             xen::IpList{{kUntrustedIp}, {kUntrustedIp6}}});
  pl.set_rules("work", {rule("action=accept")});
  pl.set_rules("untrusted", {rule("action=accept proto=tcp dstports=443-443"),
                             rule("action=accept specialtarget=dns"), rule("action=accept dst6=::/0"),
                             rule("action=accept proto=tcp dsthost=updates.example")});
  // The router's MAC, learned from an ARP reply.
  const uint8_t arp[42] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 6, 0, 1, 8, 0, 6, 4, 0, 2,
                           2, 0, 0, 0, 0, 1, 192, 168, 100, 1, 2, 0, 0, 0, 0, 2, 192, 168, 100, 2};
  (void)pl.from_uplink(std::as_bytes(std::span(arp)), 0);

  int64_t now = 1000;
  std::size_t i = 0;
  while (i + 3 <= size) {
    const uint8_t kind = data[i] % 4;
    const std::size_t len = std::size_t(data[i + 1]) << 8 | data[i + 2];
    i += 3;
    if (kind == 3) {
      now += int64_t(len) * 1000;
      pl.tick(now);
      continue;
    }
    const std::size_t n = std::min(len, size - i);
    const auto frame = std::as_bytes(std::span(data + i, n));
    i += n;
    if (kind == 2) {
      (void)pl.from_uplink(frame, now);
    } else {
      (void)pl.from_client(kind == 0 ? work : untrusted, frame, netback::TxFlags{(len & 1) != 0, false, (len & 2) ? netback::Gso{uint16_t(len * 7), 1} : netback::Gso{}}, now);
    }
  }
  return 0;
}
