// firewall/pipeline_state.cc — Pipeline's state: the client vifs, the VMs' rules (atomic
// replacement cutting what they forbid), resolved host names, and explain().
#include <algorithm>
#include <set>

#include "firewall/pipeline.h"
#include "nat/rewrite.h"

namespace xfw::firewall {
namespace {
using packet::ipproto::icmp;
using packet::ipproto::icmpv6;
using packet::ipproto::tcp;
using packet::ipproto::udp;
}  // namespace

FlowQuery Pipeline::query_of(const nat::Key& k, uint8_t icmp_type) {
  return FlowQuery{k.v6, k.proto, nat::v4_of(k.dst), nat::v6_of(k.dst), k.dport, icmp_type};
}

Pipeline::Pipeline(PipelineConfig cfg, Egress& out, uint64_t seed)
    : cfg_(std::move(cfg)), out_(out), ct_(cfg_.limits, cfg_.timeouts, seed),
      resolver_(seed ^ 0x5bd1e9955bd1e995ull), buf_(kMaxFrame), reply_(packet::kMaxReply) {
  if (cfg_.uplink_addr) ct_.set_uplink(false, nat::addr_of(*cfg_.uplink_addr));
  if (cfg_.uplink_addr6) ct_.set_uplink(true, nat::addr_of(*cfg_.uplink_addr6));
  default_rules_ = RuleSet::build(cfg_.default_rules, cfg_.dns_virtual, {});
}

// ---- vifs -------------------------------------------------------------------------------

void Pipeline::vif_up(const netback::VifInfo& vif, int64_t now) {
  if (clients_.size() <= vif.id.slot) clients_.resize(vif.id.slot + 1);
  Client c{vif.id, vif.domid.value(), vif.devid, {}, vif.mac, ClientVif{vif.ips.v4, vif.ips.v6}};
  if (!vif.name.empty()) c.keys.push_back(vif.name);
  for (const auto& a : vif.ips.v4) c.keys.push_back(a.str());
  for (const auto& a : vif.ips.v6) c.keys.push_back(a.str());
  if (c.keys.empty()) c.keys.push_back("domain-" + std::to_string(vif.domid.value()));
  if (clients_[vif.id.slot]) index_addrs(*clients_[vif.id.slot], false);
  ct_.flush_vif(vif.id.slot);
  clients_[vif.id.slot] = std::move(c);
  index_addrs(*clients_[vif.id.slot], true);
  if (adopting_) adopt_for(*clients_[vif.id.slot], now);
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

bool Pipeline::client_is(netback::VifId vif, std::string_view key) const {
  if (vif.slot >= clients_.size() || !clients_[vif.slot] || !(clients_[vif.slot]->id == vif)) return false;
  const auto& keys = clients_[vif.slot]->keys;
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

// Rules are found under the VM's name or, as QubesDB keys them, under one of its addresses.
// QubesDB's come first, those of the packet's family first (dom0 writes a VM's IPv4 and IPv6
// rules under its two addresses).
const std::string& Pipeline::vm_of(const Client& c, bool v6) const {
  const std::string* qubesdb = nullptr;
  for (const auto& k : c.keys) {
    const auto it = vms_.find(k);
    if (it == vms_.end() || !it->second.from_qubesdb) continue;
    const bool k_v6 = k.find(':') != std::string::npos;
    if (k_v6 == v6) return k;
    if (!qubesdb) qubesdb = &k;
  }
  if (qubesdb) return *qubesdb;
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
  v.compiled = v.invalid ? RuleSet::refused(*v.invalid) : RuleSet::build(v.rules, cfg_.dns_virtual, resolved_);
}

std::size_t Pipeline::store_rules(const std::string& vm, std::vector<Rule> rules, bool from_qubesdb,
                                  std::optional<std::string> invalid) {
  Vm& v = vms_[vm];
  v.rules = std::move(rules);
  v.from_qubesdb = from_qubesdb;
  v.invalid = std::move(invalid);
  recompile(v);
  resolver_.set_hosts(hosts());
  return cut_forbidden(vm);
}

std::size_t Pipeline::set_rules(const std::string& vm, std::vector<Rule> rules) {
  return store_rules(vm, std::move(rules), false, std::nullopt);
}

std::size_t Pipeline::set_qubesdb_rules(const std::string& addr, std::vector<Rule> rules) {
  return store_rules(addr, std::move(rules), true, std::nullopt);
}

std::size_t Pipeline::set_rules_invalid(const std::string& vm, std::string why) {
  return store_rules(vm, {}, true, std::move(why));
}

const char* Pipeline::rules_source(const std::string& vm) const {
  const auto it = vms_.find(vm);
  if (it == vms_.end()) return "";
  return it->second.from_qubesdb ? "qubesdb" : "local";
}

const std::string* Pipeline::rules_invalid(const std::string& vm) const {
  const auto it = vms_.find(vm);
  return it == vms_.end() || !it->second.invalid ? nullptr : &*it->second.invalid;
}

void Pipeline::set_network(const NetworkConfig& n) {
  const NetworkConfig old = cfg_;
  static_cast<NetworkConfig&>(cfg_) = n;
  if (n.uplink_addr && n.uplink_addr != old.uplink_addr) ct_.set_uplink(false, nat::addr_of(*n.uplink_addr));
  if (n.uplink_addr6 && n.uplink_addr6 != old.uplink_addr6) ct_.set_uplink(true, nat::addr_of(*n.uplink_addr6));
  if (n.uplink_gateway != old.uplink_gateway || n.uplink_addr != old.uplink_addr) {
    gateway_mac_.reset();
    gateway_heard_ = 0;
    next_arp_ = 0;
  }
  if (n.uplink_gateway6 != old.uplink_gateway6 || n.uplink_addr6 != old.uplink_addr6) {
    gateway6_mac_.reset();
    next_ns_ = 0;
  }
  if (n.dns_virtual != old.dns_virtual) {
    default_rules_ = RuleSet::build(cfg_.default_rules, cfg_.dns_virtual, {});
    for (auto& [vm, v] : vms_) {
      recompile(v);
      cut_forbidden(vm);
    }
  }
}

void Pipeline::set_known_clients(const std::vector<nat::Addr>& addrs) {
  known_clients_.clear();
  for (const auto& a : addrs) known_clients_.insert(a.b);
}

std::size_t Pipeline::remove_rules(const std::string& vm) {
  if (vms_.erase(vm) == 0) return 0;
  resolver_.set_hosts(hosts());
  return cut_forbidden(vm);
}

std::size_t Pipeline::flush_flows(const std::string& vm) {
  std::size_t n = 0;
  for (const auto& c : clients_)
    if (c && (vm_of(*c, false) == vm || vm_of(*c, true) == vm)) n += ct_.flush_vif(c->id.slot);
  return n;
}

std::vector<std::string> Pipeline::vms_with_rules() const {
  std::vector<std::string> out;
  for (const auto& [vm, v] : vms_) out.push_back(vm);
  return out;
}

bool Pipeline::forbidden(const Client& c, const nat::Flow& f) const {
  const auto q = query_of(f.orig, f.orig.proto == icmp || f.orig.proto == icmpv6 ? 8 : 0);
  return ruleset(vm_of(c, f.orig.v6)).classify(q).action == Action::drop;
}

std::size_t Pipeline::cut_forbidden(const std::string& vm) {
  std::vector<uint32_t> cut;
  ct_.for_each([&](uint32_t id, const nat::Flow& fl) {
    if (fl.vif_slot >= clients_.size() || !clients_[fl.vif_slot] || vm_of(*clients_[fl.vif_slot], fl.orig.v6) != vm) return;
    if (forbidden(*clients_[fl.vif_slot], fl)) cut.push_back(id);
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
  if (d.why == Why::invalid)
    return {refused, std::nullopt, "the rules of " + vm + " from QubesDB are refused (" + d.host + "): all its traffic is dropped (fail closed)"};
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
