// firewall/pipeline.h — the path of a frame (ARCHITECTURE.md), one stage after another.
//
// From a client vif:  parse ▶ client_ingress (proxy ARP, anti-spoof, gateway echo)
//   ▶ TTL ▶ conntrack hit ▶ NAT rewrite ▶ uplink
//   ▶ new flow: inter-VM? ▶ rules (first match) ▶ DNS redirect ▶ conntrack insert ▶ NAT ▶ uplink
//   ▶ drop: counted reason, answered with ICMP admin-prohibited / TCP RST when `reject` is on
// From the uplink:  parse ▶ ARP / NDP for the uplink addresses ▶ not from a client address
//   ▶ answers to xfwd's own DNS queries (dsthost names, firewall/host_resolver.h)
//   ▶ ICMP error about a flow: translate ▶ conntrack reply hit ▶ un-NAT ▶ the client's vif
//
// The pipeline is pure policy: frames go out through the Egress interface, time comes in as
// `now` (milliseconds), and nothing here does I/O or logs. A drop returns its reason; the
// caller counts it. Rules are keyed by VM name (rules exist before the VM runs) or, as QubesDB
// does, by the VM's address: a driver domain may not be allowed to read the VM's name.
//   Pipeline pl(cfg, egress, seed);
//   pl.vif_up(info);
//   if (auto why = pl.from_client(vif, frame, flags, now)) count(*why);
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "firewall/client.h"
#include "firewall/host_resolver.h"
#include "firewall/ruleset.h"
#include "firewall/saved_state.h"
#include "firewall/verdict.h"
#include "nat/conntrack.h"
#include "nat/fragments.h"
#include "netback/frames.h"
#include "packet/build.h"

namespace xfw::firewall {

// What the firewall VM's network is: set from the configuration file, and changed at run time
// from QubesDB (set_network).
struct NetworkConfig {
  packet::Ipv4Addr gateway{{10, 137, 0, 1}};  // the firewall's address on client links
  std::optional<packet::Ipv6Addr> gateway6;   // its IPv6 address there (ping, ICMPv6 errors)
  std::vector<packet::Ipv4Addr> dns_virtual{packet::Ipv4Addr{{10, 139, 1, 1}},
                                            packet::Ipv4Addr{{10, 139, 1, 2}}};
  std::vector<packet::Ipv4Addr> resolvers;  // the real upstream DNS servers
  // Uplink: our address on it, and its gateway (next hop for everything).
  std::optional<packet::Ipv4Addr> uplink_addr, uplink_gateway;
  std::optional<packet::Ipv6Addr> uplink_addr6, uplink_gateway6;  // IPv6 (NAT66), optional
  friend bool operator==(const NetworkConfig&, const NetworkConfig&) = default;
};

struct PipelineConfig : NetworkConfig {
  bool reject = true;     // answer drops with ICMP admin-prohibited / TCP RST
  bool inter_vm = false;  // let clients open connections to each other
  bool dhcp = false;      // answer a client's DHCP with its vif's address (firewall/dhcp.h)
  packet::MacAddr uplink_mac;  // our MAC on the uplink
  nat::Limits limits;
  nat::Timeouts timeouts;
  std::vector<Rule> default_rules;  // for VMs with no rules of their own (empty: policy drop)
};

// A client VM's link MTU (a Qubes vif). A TCP frame longer than that (a GSO "super-frame")
// leaves the pipeline with a partial checksum — the pseudo-header sum, as GSO wants it — and
// is passed on whole or cut into segments (with their own checksums) after the pipeline.
inline constexpr std::size_t kVmMtu = 1500;
[[nodiscard]] inline bool is_super_frame(const packet::Parsed& p) {
  return p.proto == packet::ipproto::tcp && p.has_l4 && !p.fragment && p.l3_end > 14 + kVmMtu;
}

class Egress {
 public:
  virtual ~Egress() = default;
  // gso_size > 0: a TCP super-frame from a guest, to be sent as segments of that many payload
  // bytes (the size the guest's TCP chose for its peer).
  virtual void to_uplink(std::span<const std::byte> frame, uint16_t gso_size) = 0;
  virtual void to_vif(netback::VifId vif, std::span<const std::byte> frame) = 0;
};

// What explain() says about a packet: the contract of `xfwctl rules explain --json`.
struct Explanation {
  const char* verdict = "drop";  // "accept", "drop" or "reject"
  std::optional<uint32_t> rule;
  std::string reason;
};

class Pipeline {
 public:
  Pipeline(PipelineConfig cfg, Egress& out, uint64_t seed);

  // `now`: for the saved connections it adopts (adopt_saved()).
  void vif_up(const netback::VifInfo& vif, int64_t now = 0);
  void vif_down(netback::VifId vif);

  // A frame from a client; nullopt when it was forwarded or answered. The frame is copied into
  // the pipeline's own buffer and rewritten there.
  std::optional<DropReason> from_client(netback::VifId vif, std::span<const std::byte> frame,
                                        netback::TxFlags flags, int64_t now);
  // The same, rewriting `frame` itself (the data path's: netback's scratch and the uplink's
  // receive buffer are private copies already); what goes out is a span of it, valid as long
  // as the caller keeps it. At most kMaxFrame bytes.
  std::optional<DropReason> from_client_in_place(netback::VifId vif, std::span<std::byte> frame,
                                                 netback::TxFlags flags, int64_t now);
  static constexpr std::size_t kMaxFrame = 65536 + 64;
  // A frame read from the uplink interface; csum_blank: its transport checksum is unfinished
  // (the kernel's TP_STATUS_CSUMNOTREADY), complete it; csum_valid: the kernel verified it
  // (TP_STATUS_CSUM_VALID). Otherwise it is verified here, as Linux's conntrack does.
  std::optional<DropReason> from_uplink(std::span<const std::byte> frame, int64_t now,
                                        bool csum_blank = false, bool csum_valid = false);
  std::optional<DropReason> from_uplink_in_place(std::span<std::byte> frame, int64_t now,
                                                 bool csum_blank = false, bool csum_valid = false);

  // Replaces a VM's rules at once. Flows of the VM that the new rules forbid are cut; the
  // others continue. Returns how many were cut.
  std::size_t set_rules(const std::string& vm, std::vector<Rule> rules);
  // Rules that came from QubesDB keyed by a client address: they take precedence over rules
  // under the VM's name, and a client's IPv6 traffic uses those of its IPv6 address.
  std::size_t set_qubesdb_rules(const std::string& addr, std::vector<Rule> rules);
  // Rules that could not be read (from QubesDB): everything from the VM is dropped, counted
  // as rules_invalid, and explain() gives `why`.
  std::size_t set_rules_invalid(const std::string& vm, std::string why);
  // Forgets a VM's rules (it falls back to the default rules); cuts what those forbid.
  std::size_t remove_rules(const std::string& vm);
  // Where a VM's rules came from: "local", "qubesdb", or "" (none: the default rules).
  [[nodiscard]] const char* rules_source(const std::string& vm) const;
  [[nodiscard]] const std::string* rules_invalid(const std::string& vm) const;
  // The network changed (QubesDB): a new uplink address ends the flows NATed to the old one, a
  // new uplink gateway is looked up again, new virtual DNS addresses recompile every rule set.
  void set_network(const NetworkConfig& n);
  [[nodiscard]] const NetworkConfig& network() const { return cfg_; }
  [[nodiscard]] const PipelineConfig& config() const { return cfg_; }
  // Every client address dom0 knows (QubesDB /connected-ips*), running or not: refused as a
  // source from the uplink.
  void set_known_clients(const std::vector<nat::Addr>& addrs);
  [[nodiscard]] const std::vector<Rule>* rules(const std::string& vm) const;
  [[nodiscard]] std::vector<std::string> vms_with_rules() const;
  std::size_t flush_flows(const std::string& vm);  // `xfwctl conntrack flush VM`
  // The addresses a dsthost resolved to (an empty Resolved: the name does not resolve).
  void set_resolved(const std::string& host, Resolved addrs);
  [[nodiscard]] std::vector<std::string> hosts() const;  // every dsthost in use

  [[nodiscard]] Explanation explain(const std::string& vm, const FlowQuery& q) const;

  void tick(int64_t now);  // expiry, ARP for the uplink gateway, DNS for dsthost names
  // The uplink (re)connected, maybe to a new sys-net: ask for the gateway's MAC at the next tick
  // (the one known is used until an answer replaces it).
  void uplink_up() { next_arp_ = next_ns_ = 0; }

  // What `xfwctl diagnose` asks: the uplink gateway's MAC (nullopt: it has not answered ARP)
  // and when it was last heard from; a DNS query to each resolver, timed.
  struct DnsProbe {
    packet::Ipv4Addr server;
    uint16_t id = 0, sport = 0;
    int64_t sent = 0;                // 0: not sent (no uplink address or gateway MAC)
    std::optional<int64_t> answered;  // when
    uint8_t rcode = 0;
  };
  [[nodiscard]] const std::optional<packet::MacAddr>& gateway_mac() const { return gateway_mac_; }
  [[nodiscard]] int64_t gateway_heard() const { return gateway_heard_; }  // 0: never
  // Sends one query (A of "localhost": any resolver answers it itself) to every resolver; the
  // answers land in probes().
  void probe_resolvers(int64_t now);
  [[nodiscard]] const std::vector<DnsProbe>& probes() const { return probes_; }
  [[nodiscard]] const nat::ConnTrack& conntrack() const { return ct_; }

  // Across a restart of xfwd (firewall/saved_state.h, daemon/state_file.h).
  // The configuration a saved state must have been written for: the uplink addresses and
  // gateways, the NAT port range, the virtual DNS addresses and the resolvers.
  [[nodiscard]] std::string state_identity() const;
  // Every live connection, with those still waiting for their vif (restore()).
  [[nodiscard]] SavedState save(int64_t now) const;
  // Keeps `s` until adopt_saved(): until then none of its connections forwards, and drops are
  // not answered (no RST or ICMP error that would end one of them).
  void restore(SavedState s);
  // Once the rules are known (at start, or after QubesDB's first full read). A state written
  // for another configuration is refused whole: returns why, and nothing of it is used. Else
  // the gateway MACs and resolved names come back, and the connections of every vif up are
  // adopted (what the current rules refuse is cut, the per-VM limits hold); those of a vif that
  // comes up within kAdoptWaitMs follow it, the others are forgotten.
  std::optional<std::string> adopt_saved(int64_t now);
  [[nodiscard]] const AdoptStats& adopt_stats() const { return adopt_stats_; }
  static constexpr int64_t kAdoptWaitMs = 60'000;
  [[nodiscard]] std::string vm_of(netback::VifId vif) const;
  // Is `key` the name or one of the addresses of the client on `vif`?
  [[nodiscard]] bool client_is(netback::VifId vif, std::string_view key) const;

 private:
  struct Client {
    netback::VifId id;
    uint16_t domid = 0;
    uint32_t devid = 0;
    std::vector<std::string> keys;  // its name (if known), then its addresses
    packet::MacAddr mac;
    ClientVif addrs;
  };
  struct Vm {
    std::vector<Rule> rules;
    RuleSet compiled;
    bool from_qubesdb = false;
    std::optional<std::string> invalid;  // the rules could not be read: drop everything
  };

  std::optional<DropReason> forward_new(const Client& c, packet::Parsed& p, int64_t now, uint16_t gso_size);
  std::optional<DropReason> refuse(const Client& c, const packet::Parsed& p, DropReason why);
  std::optional<DropReason> client_icmp_error(const Client& c, packet::Parsed& p, int64_t now);
  std::optional<DropReason> uplink_icmp_error(packet::Parsed& p, int64_t now);
  std::optional<DropReason> client_fragment(const Client& c, packet::Parsed& p, int64_t now);
  std::optional<DropReason> uplink_fragment(packet::Parsed& p, int64_t now);
  std::optional<DropReason> send_uplink(packet::Parsed& p, uint16_t gso_size = 0);
  std::optional<DropReason> send_client(uint32_t flow_id, packet::Parsed& p);
  std::optional<DropReason> uplink_arp(const packet::Parsed& p, int64_t now);
  std::optional<DropReason> uplink_ndp(const packet::Parsed& p);
  std::optional<DropReason> dns_response(const packet::Parsed& p, int64_t now);
  void send_queries(int64_t now);
  [[nodiscard]] static FlowQuery query_of(const nat::Key& k, uint8_t icmp_type);
  [[nodiscard]] const Client* client_by_addr(const nat::Addr& a) const;
  [[nodiscard]] const std::string& vm_of(const Client& c, bool v6 = false) const;
  [[nodiscard]] const RuleSet& ruleset(const std::string& vm) const;
  void recompile(Vm& v);
  std::size_t store_rules(const std::string& vm, std::vector<Rule> rules, bool from_qubesdb,
                          std::optional<std::string> invalid);
  std::size_t cut_forbidden(const std::string& vm);
  [[nodiscard]] bool forbidden(const Client& c, const nat::Flow& f) const;
  void adopt_for(const Client& c, int64_t now);
  void index_addrs(const Client& c, bool add);
  [[nodiscard]] std::optional<packet::Ipv4Addr> resolver_for(const packet::Ipv4Addr& virt) const;

  PipelineConfig cfg_;
  Egress& out_;
  nat::ConnTrack ct_;
  nat::Fragments frags_out_, frags_in_;  // later IPv4 fragments' flows, each direction
  std::vector<std::optional<Client>> clients_;  // by VifId::slot
  std::map<std::array<uint8_t, 16>, uint32_t> by_addr_;  // client address -> slot
  std::set<std::array<uint8_t, 16>> known_clients_;     // QubesDB's, running or not
  std::map<std::string, Vm> vms_;
  RuleSet default_rules_;
  std::map<std::string, Resolved> resolved_;
  HostResolver resolver_;
  std::optional<packet::MacAddr> gateway_mac_, gateway6_mac_;
  int64_t next_arp_ = 0, next_ns_ = 0, gateway_heard_ = 0;
  std::vector<DnsProbe> probes_;
  uint16_t probe_seq_ = 0;
  std::optional<SavedState> saved_;  // a previous xfwd's, until adopted (restore())
  std::vector<bool> saved_done_;     // per saved flow: adopted or given up
  bool adopting_ = false;
  int64_t adopt_until_ = 0;
  AdoptStats adopt_stats_;
  std::vector<std::byte> buf_;       // from_client's and from_uplink's copy
  std::span<std::byte> frame_;       // the frame being rewritten (buf_ or the caller's)
  std::vector<std::byte> reply_;     // a reply built by a stage
};

}  // namespace xfw::firewall
