#include "firewall/pipeline.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "nat/icmp_error.h"
#include "nat/rewrite.h"
#include "packet/bytes.h"

namespace xfw::firewall {
namespace {

using packet::ipproto::icmp;
using packet::ipproto::icmpv6;
using packet::ipproto::tcp;
using packet::ipproto::udp;
constexpr uint8_t kSyn = 0x02, kRst = 0x04, kAck = 0x10;

void set_macs(std::span<std::byte> f, const packet::MacAddr& dst, const packet::MacAddr& src,
              packet::Parsed& p) {
  std::memcpy(f.data(), dst.b.data(), 6);
  std::memcpy(f.data() + 6, src.b.data(), 6);
  p.dst_mac = dst;
  p.src_mac = src;
}

FlowQuery query_of(const nat::Key& k, uint8_t icmp_type) {
  return FlowQuery{k.v6, k.proto, nat::v4_of(k.dst), nat::v6_of(k.dst), k.dport, icmp_type};
}

DropReason drop_reason(const Decision& d) {
  switch (d.why) {
    case Why::rule: return DropReason::rule_drop;
    case Why::policy: return DropReason::rule_policy;
    case Why::unresolved_host: return DropReason::rule_unresolved_host;
  }
  return DropReason::rule_policy;
}

}  // namespace

Pipeline::Pipeline(PipelineConfig cfg, Egress& out, uint64_t seed)
    : cfg_(std::move(cfg)), out_(out), ct_(cfg_.limits, cfg_.timeouts, seed),
      resolver_(seed ^ 0x5bd1e9955bd1e995ull), buf_(65536 + 64), reply_(packet::kMaxReply) {
  if (cfg_.uplink_addr) ct_.set_uplink(false, nat::addr_of(*cfg_.uplink_addr));
  if (cfg_.uplink_addr6) ct_.set_uplink(true, nat::addr_of(*cfg_.uplink_addr6));
  default_rules_ = RuleSet::build(cfg_.default_rules, cfg_.dns_virtual, {});
}

// ---- vifs -------------------------------------------------------------------------------

void Pipeline::vif_up(const netback::VifInfo& vif) {
  if (clients_.size() <= vif.id.slot) clients_.resize(vif.id.slot + 1);
  Client c{vif.id, {}, vif.mac, ClientVif{vif.ips.v4, vif.ips.v6}};
  if (!vif.name.empty()) c.keys.push_back(vif.name);
  for (const auto& a : vif.ips.v4) c.keys.push_back(a.str());
  for (const auto& a : vif.ips.v6) c.keys.push_back(a.str());
  if (c.keys.empty()) c.keys.push_back("domain-" + std::to_string(vif.domid.value()));
  if (clients_[vif.id.slot]) index_addrs(*clients_[vif.id.slot], false);
  ct_.flush_vif(vif.id.slot);
  clients_[vif.id.slot] = std::move(c);
  index_addrs(*clients_[vif.id.slot], true);
}

void Pipeline::vif_down(netback::VifId vif) {
  if (vif.slot >= clients_.size() || !clients_[vif.slot] || !(clients_[vif.slot]->id == vif)) return;
  ct_.flush_vif(vif.slot);  // only this VM's flows: the others keep theirs
  index_addrs(*clients_[vif.slot], false);
  clients_[vif.slot].reset();
}

std::string Pipeline::vm_of(netback::VifId vif) const {
  if (vif.slot >= clients_.size() || !clients_[vif.slot] || !(clients_[vif.slot]->id == vif)) return {};
  return vm_of(*clients_[vif.slot]);
}

// Rules are found under the VM's name or, as QubesDB keys them, under one of its addresses.
const std::string& Pipeline::vm_of(const Client& c) const {
  for (const auto& k : c.keys)
    if (vms_.count(k)) return k;
  return c.keys.front();
}

const Pipeline::Client* Pipeline::client_by_addr(const nat::Addr& a) const {
  const auto it = by_addr_.find(a.b);
  return it == by_addr_.end() ? nullptr : &*clients_[it->second];
}

void Pipeline::index_addrs(const Client& c, bool add) {
  auto each = [&](const nat::Addr& a) {
    if (add) {
      by_addr_[a.b] = c.id.slot;
    } else if (const auto it = by_addr_.find(a.b); it != by_addr_.end() && it->second == c.id.slot) {
      by_addr_.erase(it);
    }
  };
  for (const auto& v4 : c.addrs.v4) each(nat::addr_of(v4));
  for (const auto& v6 : c.addrs.v6) each(nat::addr_of(v6));
}

// ---- from a client ----------------------------------------------------------------------

std::optional<DropReason> Pipeline::from_client(netback::VifId vif, std::span<const std::byte> frame,
                                                netback::TxFlags flags, int64_t now) {
  if (vif.slot >= clients_.size() || !clients_[vif.slot] || !(clients_[vif.slot]->id == vif))
    return DropReason::vif_gone;
  const Client& c = *clients_[vif.slot];
  if (frame.size() > buf_.size()) return DropReason::malformed;
  std::memcpy(buf_.data(), frame.data(), frame.size());
  const std::span<std::byte> f(buf_.data(), frame.size());

  auto parsed = packet::parse(f);
  if (!std::holds_alternative<packet::Parsed>(parsed)) return DropReason::malformed;
  packet::Parsed& p = std::get<packet::Parsed>(parsed);

  const Verdict v = client_ingress(c.addrs, Gateway{cfg_.gateway, cfg_.gateway6}, f, p, reply_);
  if (const auto* r = std::get_if<Reply>(&v)) {
    out_.to_vif(c.id, std::span(reply_.data(), r->len));
    return std::nullopt;
  }
  if (const auto* d = std::get_if<Drop>(&v)) return d->reason;

  if (flags.csum_blank) nat::complete_checksum(f, p);  // NETTXF_csum_blank: finish it for them
  if (p.ttl <= 1) {  // RFC 792 / RFC 4443 §3.3: time exceeded in transit, from the gateway
    if (p.l3 == packet::L3::ipv4) {
      out_.to_vif(c.id, std::span(reply_.data(), packet::icmp4_error(reply_, f, p, cfg_.gateway, 11, 0)));
    } else if (cfg_.gateway6) {
      out_.to_vif(c.id, std::span(reply_.data(), packet::icmp6_error(reply_, f, p, *cfg_.gateway6, 3, 0)));
    }
    return DropReason::ttl_exceeded;
  }
  if (p.later_fragment) return client_fragment(c, p, now);
  if (p.proto != tcp && p.proto != udp && p.proto != icmp && p.proto != icmpv6)
    return DropReason::unsupported_protocol;
  if (nat::is_icmp_error(p)) return client_icmp_error(c, p, now);

  const uint32_t id = ct_.find_orig(nat::key_of(p), now);
  if (id == nat::ConnTrack::kNone) return forward_new(c, p, now);
  ct_.seen(id, true, p.tcp_flags, now);
  if (p.fragment) frags_out_.remember(p, id, now);
  const nat::Flow& fl = ct_.flow(id);
  if (!(fl.nat_dst == fl.orig.dst)) nat::set_dst(f, p, fl.nat_dst, fl.orig.dport);
  nat::set_src(f, p, ct_.uplink(fl.orig.v6), fl.nat_port);
  return send_uplink(p);
}

// A later fragment: the address rewrite of the flow its first fragment belonged to.
std::optional<DropReason> Pipeline::client_fragment(const Client& c, packet::Parsed& p, int64_t now) {
  if (p.l3 != packet::L3::ipv4) return DropReason::fragment_no_flow;
  const uint32_t id = frags_out_.find(p, now);
  if (id == nat::ConnTrack::kNone || !ct_.flow(id).live || ct_.flow(id).vif_slot != c.id.slot ||
      !(ct_.flow(id).orig.src == nat::src_of(p)))
    return DropReason::fragment_no_flow;
  const nat::Flow& fl = ct_.flow(id);
  const std::span<std::byte> f(buf_.data(), p.l3_end);
  if (!(fl.nat_dst == fl.orig.dst)) nat::set_dst(f, p, fl.nat_dst, 0);
  nat::set_src(f, p, ct_.uplink(false), 0);
  return send_uplink(p);
}

std::optional<DropReason> Pipeline::forward_new(const Client& c, packet::Parsed& p, int64_t now) {
  if (p.proto == tcp && (p.tcp_flags & (kSyn | kAck | kRst)) != kSyn)
    return refuse(c, p, DropReason::tcp_not_syn);
  const nat::Key k = nat::key_of(p);
  if (client_by_addr(k.dst) && !cfg_.inter_vm) return refuse(c, p, DropReason::inter_vm);

  const Decision d = ruleset(vm_of(c)).classify(query_of(k, p.icmp_type));
  if (d.action == Action::drop) return refuse(c, p, drop_reason(d));

  nat::Addr nat_dst = k.dst;
  if (!k.v6 && (p.proto == udp || p.proto == tcp) && p.dport == 53) {
    if (std::find(cfg_.dns_virtual.begin(), cfg_.dns_virtual.end(), p.dst4) != cfg_.dns_virtual.end()) {
      const auto r = resolver_for(p.dst4);
      if (!r) return DropReason::dns_no_resolver;
      nat_dst = nat::addr_of(*r);
    }
  }
  if (k.v6 ? !cfg_.uplink_addr6 : !cfg_.uplink_addr) return DropReason::uplink_unconfigured;
  const auto made = ct_.create(k, nat_dst, c.id.slot, c.id.gen, d.rule.value_or(0), now);
  if (const auto* why = std::get_if<nat::Refused>(&made)) {
    switch (*why) {
      case nat::Refused::table_full: return DropReason::conntrack_table_full;
      case nat::Refused::vif_limit: return DropReason::conntrack_vif_limit;
      case nat::Refused::no_nat_port: return DropReason::nat_no_port;
    }
  }
  const uint32_t id = std::get<uint32_t>(made);
  ct_.seen(id, true, p.tcp_flags, now);
  if (p.fragment) frags_out_.remember(p, id, now);
  const std::span<std::byte> f(buf_.data(), p.l3_end);
  if (!(nat_dst == k.dst)) nat::set_dst(f, p, nat_dst, p.dport);
  nat::set_src(f, p, ct_.uplink(k.v6), ct_.flow(id).nat_port);
  return send_uplink(p);
}

// A policy drop, answered (when `reject` is on) the way Qubes does: TCP RST, or ICMP
// "communication administratively prohibited" (RFC 1812 §5.2.7.1) from the gateway.
// RFC 4443 §3.1 code 1 for IPv6.
std::optional<DropReason> Pipeline::refuse(const Client& c, const packet::Parsed& p, DropReason why) {
  if (!cfg_.reject || !p.has_l4 || nat::is_icmp_error(p)) return why;
  const std::span<const std::byte> f(buf_.data(), p.l3_end);
  std::size_t n = 0;
  if (p.proto == tcp) {
    if (!(p.tcp_flags & kRst)) n = packet::tcp_rst(reply_, f, p);
  } else if (p.l3 == packet::L3::ipv4) {
    n = packet::icmp4_error(reply_, f, p, cfg_.gateway, 3, 13);
  } else if (cfg_.gateway6) {
    n = packet::icmp6_error(reply_, f, p, *cfg_.gateway6, 1, 1);
  }
  if (n) out_.to_vif(c.id, std::span(reply_.data(), n));
  return why;
}

// The client answers a packet of one of its flows with an ICMP error (e.g. port unreachable).
std::optional<DropReason> Pipeline::client_icmp_error(const Client& c, packet::Parsed& p, int64_t now) {
  const std::span<std::byte> f(buf_.data(), p.l3_end);
  auto q = nat::quoted(f, p);
  if (!q) return DropReason::icmp_error_no_flow;
  const nat::Key qk = nat::key_of(*q);  // remote -> client: the reply direction, un-NATed
  const uint32_t id = ct_.find_orig(nat::Key{qk.dst, qk.src, qk.dport, qk.sport, qk.proto, qk.v6}, now);
  if (id == nat::ConnTrack::kNone || ct_.flow(id).vif_slot != c.id.slot) return DropReason::icmp_error_no_flow;
  const nat::Flow& fl = ct_.flow(id);
  nat::translate_quoted(f, *q, fl.nat_dst, fl.orig.dport, ct_.uplink(fl.orig.v6), fl.nat_port);
  nat::set_src(f, p, ct_.uplink(fl.orig.v6), 0);
  nat::complete_checksum(f, p);
  return send_uplink(p);
}

std::optional<DropReason> Pipeline::send_uplink(packet::Parsed& p) {
  const auto& next_hop = p.l3 == packet::L3::ipv6 ? gateway6_mac_ : gateway_mac_;
  if (!next_hop) return DropReason::uplink_gateway_unknown;
  const std::span<std::byte> f(buf_.data(), p.l3_end);
  if (!nat::decrement_ttl(f, p)) return DropReason::ttl_exceeded;
  set_macs(f, *next_hop, cfg_.uplink_mac, p);
  out_.to_uplink(f);
  return std::nullopt;
}

// ---- from the uplink --------------------------------------------------------------------

std::optional<DropReason> Pipeline::from_uplink(std::span<const std::byte> frame, int64_t now,
                                                bool csum_blank) {
  if (frame.size() > buf_.size()) return DropReason::malformed;
  std::memcpy(buf_.data(), frame.data(), frame.size());
  auto parsed = packet::parse(std::span(buf_.data(), frame.size()));
  if (!std::holds_alternative<packet::Parsed>(parsed)) return DropReason::malformed;
  packet::Parsed& p = std::get<packet::Parsed>(parsed);
  const bool v6 = p.l3 == packet::L3::ipv6;
  if (p.l3 == packet::L3::other) return DropReason::unsupported_ethertype;
  if (v6 ? !cfg_.uplink_addr6 : !cfg_.uplink_addr) return DropReason::uplink_unconfigured;
  if (p.l3 == packet::L3::arp) return uplink_arp(p);
  if (v6 && p.proto == icmpv6 && p.has_l4 && p.ttl == 255 && p.icmp_type >= 133 && p.icmp_type <= 137)
    return uplink_ndp(p);
  if (v6 ? p.dst6 != *cfg_.uplink_addr6 : p.dst4 != *cfg_.uplink_addr) return DropReason::uplink_not_for_us;
  if (client_by_addr(nat::src_of(p))) return DropReason::uplink_from_client_address;
  if (csum_blank) nat::complete_checksum(std::span(buf_.data(), p.l3_end), p);
  if (!v6 && p.proto == udp && p.has_l4 && !p.fragment && p.sport == 53 && HostResolver::is_our_port(p.dport))
    return dns_response(p, now);
  if (p.later_fragment) return uplink_fragment(p, now);
  if (nat::is_icmp_error(p)) return uplink_icmp_error(p, now);

  const uint32_t id = ct_.find_reply(nat::key_of(p), now);
  if (id == nat::ConnTrack::kNone) return DropReason::uplink_no_flow;
  ct_.seen(id, false, p.tcp_flags, now);
  if (p.fragment) frags_in_.remember(p, id, now);
  const nat::Flow& fl = ct_.flow(id);
  const std::span<std::byte> f(buf_.data(), p.l3_end);
  nat::set_dst(f, p, fl.orig.src, fl.orig.sport);
  if (!(fl.nat_dst == fl.orig.dst)) nat::set_src(f, p, fl.orig.dst, fl.orig.dport);  // DNS
  return send_client(id, p);
}

std::optional<DropReason> Pipeline::uplink_fragment(packet::Parsed& p, int64_t now) {
  const uint32_t id = frags_in_.find(p, now);
  if (id == nat::ConnTrack::kNone || !ct_.flow(id).live || !(ct_.flow(id).nat_dst == nat::src_of(p)))
    return DropReason::fragment_no_flow;
  const nat::Flow& fl = ct_.flow(id);
  const std::span<std::byte> f(buf_.data(), p.l3_end);
  nat::set_dst(f, p, fl.orig.src, 0);
  if (!(fl.nat_dst == fl.orig.dst)) nat::set_src(f, p, fl.orig.dst, 0);
  return send_client(id, p);
}

std::optional<DropReason> Pipeline::uplink_icmp_error(packet::Parsed& p, int64_t now) {
  const std::span<std::byte> f(buf_.data(), p.l3_end);
  auto q = nat::quoted(f, p);
  if (!q) return DropReason::icmp_error_no_flow;
  const nat::Key qk = nat::key_of(*q);  // uplink -> remote: what we sent
  const uint32_t id = ct_.find_reply(nat::Key{qk.dst, qk.src, qk.dport, qk.sport, qk.proto, qk.v6}, now);
  if (id == nat::ConnTrack::kNone) return DropReason::icmp_error_no_flow;
  const nat::Flow& fl = ct_.flow(id);
  nat::translate_quoted(f, *q, fl.orig.src, fl.orig.sport, fl.orig.dst, fl.orig.dport);
  if (nat::src_of(p) == fl.nat_dst && !(fl.nat_dst == fl.orig.dst)) nat::set_src(f, p, fl.orig.dst, 0);
  nat::set_dst(f, p, fl.orig.src, 0);
  nat::complete_checksum(f, p);
  return send_client(id, p);
}

std::optional<DropReason> Pipeline::send_client(uint32_t flow_id, packet::Parsed& p) {
  const nat::Flow& fl = ct_.flow(flow_id);
  if (fl.vif_slot >= clients_.size() || !clients_[fl.vif_slot] ||
      clients_[fl.vif_slot]->id.gen != fl.vif_gen)
    return DropReason::vif_gone;
  const Client& c = *clients_[fl.vif_slot];
  const std::span<std::byte> f(buf_.data(), p.l3_end);
  if (!nat::decrement_ttl(f, p)) return DropReason::ttl_exceeded;
  set_macs(f, c.mac, kGatewayMac, p);
  out_.to_vif(c.id, f);
  return std::nullopt;
}

// The uplink address is ours alone (the kernel has no address there): answer who-has for it
// and learn the gateway's MAC from whatever ARP it sends.
std::optional<DropReason> Pipeline::uplink_arp(const packet::Parsed& p) {
  if (cfg_.uplink_gateway && p.arp_spa == *cfg_.uplink_gateway && p.arp_sha != packet::MacAddr{})
    gateway_mac_ = p.arp_sha;
  if (p.arp_op == 1 && p.arp_tpa == *cfg_.uplink_addr) {
    out_.to_uplink(std::span(reply_.data(), packet::arp_reply(reply_, p, cfg_.uplink_mac)));
    return std::nullopt;
  }
  if (p.arp_op == 2 && p.arp_tpa == *cfg_.uplink_addr) return std::nullopt;  // learned above
  return DropReason::uplink_not_for_us;
}

// The same for IPv6 (RFC 4861): answer solicitations for our uplink address, learn the
// gateway's MAC from any neighbor discovery message it sends.
std::optional<DropReason> Pipeline::uplink_ndp(const packet::Parsed& p) {
  if (cfg_.uplink_gateway6 && p.src6 == *cfg_.uplink_gateway6) gateway6_mac_ = p.src_mac;
  if (p.icmp_type == 135 && p.has_nd_target && p.nd_target == *cfg_.uplink_addr6) {
    out_.to_uplink(std::span(reply_.data(), packet::ndp_na(reply_, p, cfg_.uplink_mac)));
    return std::nullopt;
  }
  return p.icmp_type == 136 && p.has_nd_target ? std::nullopt : std::optional{DropReason::nd_ignored};
}

void Pipeline::tick(int64_t now) {
  ct_.sweep(now, 4096);
  if (cfg_.uplink_addr && cfg_.uplink_gateway && now >= next_arp_) {
    out_.to_uplink(std::span(reply_.data(), packet::arp_request(reply_, cfg_.uplink_mac,
                                                                 *cfg_.uplink_addr,
                                                                 *cfg_.uplink_gateway)));
    next_arp_ = now + (gateway_mac_ ? 60'000 : 1'000);
  }
  if (cfg_.uplink_addr6 && cfg_.uplink_gateway6 && now >= next_ns_) {
    out_.to_uplink(std::span(reply_.data(), packet::ndp_ns(reply_, cfg_.uplink_mac, *cfg_.uplink_addr6,
                                                            *cfg_.uplink_gateway6)));
    next_ns_ = now + (gateway6_mac_ ? 60'000 : 1'000);
  }
  send_queries(now);
}

// xfwd's own DNS queries for dsthost names, from its uplink address.
void Pipeline::send_queries(int64_t now) {
  if (!cfg_.uplink_addr || !gateway_mac_) return;
  std::byte msg[512];
  for (const auto& q : resolver_.due(now, cfg_.resolvers)) {
    const std::size_t n = dns::build_query(msg, q.id, q.name, q.qtype);
    if (n == 0) continue;
    out_.to_uplink(std::span(reply_.data(), packet::udp4(reply_, cfg_.uplink_mac, *gateway_mac_, *cfg_.uplink_addr,
                                                         q.server, q.sport, 53, std::span(msg, n))));
  }
}

std::optional<DropReason> Pipeline::dns_response(const packet::Parsed& p, int64_t now) {
  const auto msg = std::span<const std::byte>(buf_.data() + p.l4_off + 8, p.l4_len() - 8u);
  const auto r = dns::parse_response(msg);
  if (!r) return DropReason::dns_response_bad;
  auto changed = resolver_.on_response(*r, p.src4, p.dport, now);
  if (!changed) return DropReason::dns_response_bad;
  set_resolved(changed->first, std::move(changed->second));
  return std::nullopt;
}

// ---- rules ------------------------------------------------------------------------------

const RuleSet& Pipeline::ruleset(const std::string& vm) const {
  const auto it = vms_.find(vm);
  return it == vms_.end() ? default_rules_ : it->second.compiled;
}

const std::vector<Rule>* Pipeline::rules(const std::string& vm) const {
  const auto it = vms_.find(vm);
  return it == vms_.end() ? nullptr : &it->second.rules;
}

void Pipeline::recompile(Vm& v) {
  v.compiled = RuleSet::build(v.rules, cfg_.dns_virtual, resolved_);
}

std::size_t Pipeline::set_rules(const std::string& vm, std::vector<Rule> rules) {
  Vm& v = vms_[vm];
  v.rules = std::move(rules);
  recompile(v);
  resolver_.set_hosts(hosts());
  return cut_forbidden(vm);
}

std::size_t Pipeline::remove_rules(const std::string& vm) {
  if (vms_.erase(vm) == 0) return 0;
  resolver_.set_hosts(hosts());
  return cut_forbidden(vm);
}

std::size_t Pipeline::flush_flows(const std::string& vm) {
  std::size_t n = 0;
  for (const auto& c : clients_)
    if (c && vm_of(*c) == vm) n += ct_.flush_vif(c->id.slot);
  return n;
}

std::vector<std::string> Pipeline::vms_with_rules() const {
  std::vector<std::string> out;
  for (const auto& [vm, v] : vms_) out.push_back(vm);
  return out;
}

std::size_t Pipeline::cut_forbidden(const std::string& vm) {
  const RuleSet& rs = ruleset(vm);
  std::vector<uint32_t> cut;
  ct_.for_each([&](uint32_t id, const nat::Flow& fl) {
    if (fl.vif_slot >= clients_.size() || !clients_[fl.vif_slot] || vm_of(*clients_[fl.vif_slot]) != vm) return;
    if (rs.classify(query_of(fl.orig, fl.orig.proto == icmp || fl.orig.proto == icmpv6 ? 8 : 0)).action == Action::drop)
      cut.push_back(id);
  });
  for (uint32_t id : cut) ct_.remove(id);
  return cut.size();
}

void Pipeline::set_resolved(const std::string& host, Resolved addrs) {
  if (addrs.v4.empty() && addrs.v6.empty()) {
    resolved_.erase(host);
  } else {
    resolved_[host] = std::move(addrs);
  }
  for (auto& [vm, v] : vms_) {
    const bool uses = std::any_of(v.rules.begin(), v.rules.end(), [&](const Rule& r) {
      const auto* h = std::get_if<std::string>(&r.dst);
      return h && *h == host;
    });
    if (!uses) continue;
    recompile(v);
    cut_forbidden(vm);
  }
}

std::vector<std::string> Pipeline::hosts() const {
  std::set<std::string> out;
  for (const auto& [vm, v] : vms_)
    for (const Rule& r : v.rules)
      if (const auto* h = std::get_if<std::string>(&r.dst)) out.insert(*h);
  return {out.begin(), out.end()};
}

std::optional<packet::Ipv4Addr> Pipeline::resolver_for(const packet::Ipv4Addr& virt) const {
  if (cfg_.resolvers.empty()) return std::nullopt;
  // Paired: the first virtual address goes to the first resolver, the second to the second.
  const auto i = std::size_t(std::find(cfg_.dns_virtual.begin(), cfg_.dns_virtual.end(), virt) -
                             cfg_.dns_virtual.begin());
  return cfg_.resolvers[i % cfg_.resolvers.size()];
}

Explanation Pipeline::explain(const std::string& vm, const FlowQuery& q) const {
  const char* refused = cfg_.reject ? "reject" : "drop";
  if (q.v6 ? cfg_.gateway6 && q.dst6 == *cfg_.gateway6 : q.dst4 == cfg_.gateway) {
    if (q.proto == (q.v6 ? icmpv6 : icmp) && q.icmp_type == (q.v6 ? 128 : 8))
      return {"accept", std::nullopt, "the gateway answers ICMP echo"};
    return {"drop", std::nullopt, "the gateway answers ICMP echo and nothing else"};
  }
  if (client_by_addr(q.v6 ? nat::addr_of(q.dst6) : nat::addr_of(q.dst4)) && !cfg_.inter_vm)
    return {refused, std::nullopt, "destination is another client VM and inter-VM traffic is off"};
  const Decision d = ruleset(vm).classify(q);
  if (d.why == Why::unresolved_host)
    return {refused, std::nullopt, "dsthost " + d.host + " is not resolved yet: all traffic of " + vm + " is dropped (fail closed)"};
  const auto it = vms_.find(vm);
  if (d.why == Why::policy)
    return {refused, std::nullopt, it != vms_.end() ? "no rule matched: policy drop" : "no rules for " + vm + ": policy drop"};
  const auto& list = it != vms_.end() ? it->second.rules : cfg_.default_rules;
  const std::string text = (it != vms_.end() ? "rule " : "default rule ") + std::to_string(*d.rule) + ": " + to_string(list[*d.rule]);
  if (d.action == Action::drop) return {refused, d.rule, text};
  if (!q.v6 && (q.proto == udp || q.proto == tcp) && q.dport == 53 &&
      std::find(cfg_.dns_virtual.begin(), cfg_.dns_virtual.end(), q.dst4) != cfg_.dns_virtual.end()) {
    const auto r = resolver_for(q.dst4);
    if (!r) return {"drop", d.rule, text + "; DNS redirect has no upstream resolver"};
    return {"accept", d.rule, text + "; DNS redirect to " + r->str()};
  }
  return {"accept", d.rule, text};
}

}  // namespace xfw::firewall
