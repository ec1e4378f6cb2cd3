#include "daemon/control_api.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "daemon/heap.h"
#include "nat/rewrite.h"
#include "packet/parse.h"

namespace xfw::daemon {
namespace {

using nlohmann::json;

json fail(const std::string& msg) { return json{{"ok", false}, {"error", msg}}; }
json ok(json result) { return json{{"ok", true}, {"result", std::move(result)}}; }

json rule_texts(const std::vector<firewall::Rule>& rules) {
  json a = json::array();
  for (const auto& r : rules) a.push_back(firewall::to_string(r));
  return a;
}

// Parses a list of rule texts; on error, the reply names the rule number and the bad word.
std::optional<json> parse_rules(const json& list, std::vector<firewall::Rule>& out) {
  if (!list.is_array()) return fail("rules: expected a list of rules");
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (!list[i].is_string()) return fail("rule " + std::to_string(i) + ": not a string");
    const auto text = list[i].get<std::string>();
    auto r = firewall::parse_rule(text);
    if (const auto* e = std::get_if<firewall::RuleError>(&r)) {
      json err = fail("rule " + std::to_string(i) + ": " + e->message);
      err["rule"] = i;
      err["text"] = text;
      err["offset"] = e->offset;
      err["length"] = e->length;
      return err;
    }
    out.push_back(std::get<firewall::Rule>(r));
  }
  return std::nullopt;
}

std::optional<std::string> vm_arg(const json& req, std::string* vm) {
  if (!req.contains("vm") || !req["vm"].is_string()) return "missing \"vm\"";
  *vm = req["vm"].get<std::string>();
  if (!valid_vm_name(*vm)) return "bad VM name \"" + *vm + "\"";
  return std::nullopt;
}

json commit(ControlContext& ctx, RuleMap next) {
  auto r = commit_rules(ctx, std::move(next));
  if (const auto* e = std::get_if<StoreError>(&r)) return fail("rules not changed: " + e->message);
  return ok(json{{"cut", std::get<std::size_t>(r)}});
}

std::string addr_str(const nat::Addr& a, bool v6) { return v6 ? nat::v6_of(a).str() : nat::v4_of(a).str(); }

json flow_json(const firewall::Pipeline& pl, const nat::ConnTrack& ct, const nat::Flow& f, int64_t now) {
  const char* proto = f.orig.proto == 6 ? "tcp" : f.orig.proto == 17 ? "udp" : f.orig.v6 ? "icmpv6" : "icmp";
  return json{{"vm", pl.vm_of(netback::VifId{f.vif_slot, f.vif_gen})},
              {"proto", proto},
              {"src", addr_str(f.orig.src, f.orig.v6)},
              {"sport", f.orig.sport},
              {"dst", addr_str(f.orig.dst, f.orig.v6)},
              {"dport", f.orig.dport},
              {"nat_dst", addr_str(f.nat_dst, f.orig.v6)},
              {"nat_port", f.nat_port},
              {"state", f.orig.proto == 6 ? nat::name(f.tcp) : (f.replied ? "REPLIED" : "UNREPLIED")},
              {"expires_s", (f.expires - now) / 1000},
              {"rule", f.rule},
              {"uplink", addr_str(ct.uplink(f.orig.v6), f.orig.v6)}};
}

std::string operstate(const std::string& ifname) {
  if (ifname.empty() || ifname.find('/') != std::string::npos) return "";
  std::ifstream f("/sys/class/net/" + ifname + "/operstate");
  std::string s;
  return f >> s ? s : "missing";
}

// What `xfwctl diagnose` judges: the uplink, the resolvers (asked now if "probe"), and with
// "vm" that VM's vifs, its DNS decisions and its last drops. xfwctl turns them into lines.
json diagnose_facts(ControlContext& ctx, const json& req, int64_t now) {
  auto& pl = ctx.dp.pipeline();
  const auto& n = pl.network();
  if (req.value("probe", false)) {
    pl.probe_resolvers(now);
    ctx.dp.flush();  // the uplink sends in batches: now, or the time measured includes the wait
  }
  auto opt = [](const auto& a) { return a ? json(a->str()) : json(nullptr); };
  const Uplink* dev = ctx.dp.uplink();
  const bool packet = dev && dev->status().value("kind", "") == "packet";
  json up{{"interface", ctx.uplink}, {"operstate", packet ? operstate(ctx.uplink) : dev ? (dev->up() ? "up" : "down") : ""}, {"address", opt(n.uplink_addr)},
          {"gateway", opt(n.uplink_gateway)}, {"gateway_mac", opt(pl.gateway_mac())},
          {"gateway_heard_s", pl.gateway_heard() ? json((now - pl.gateway_heard()) / 1000) : json(nullptr)}};
  json probes = json::array();
  for (const auto& p : pl.probes())
    probes.push_back({{"server", p.server.str()},
                      {"state", !p.sent ? "unsent" : p.answered ? "answered" : now - p.sent > 2000 ? "timeout" : "waiting"},
                      {"ms", p.answered ? *p.answered - p.sent : now - p.sent}, {"rcode", p.rcode}});
  json dns_virtual = json::array();
  for (const auto& a : n.dns_virtual) dns_virtual.push_back(a.str());
  json facts{{"uplink", up}, {"resolvers", json::array()}, {"probes", probes}, {"dns_virtual", dns_virtual},
             {"gateway", n.gateway.str()}};
  for (const auto& a : n.resolvers) facts["resolvers"].push_back(a.str());
  if (ctx.qubesdb) facts["qubesdb"] = {{"connected", ctx.qubesdb->connected()}, {"synced", ctx.qubesdb->synced()},
                                       {"socket", ctx.qubesdb->socket_path()}, {"last_error", ctx.qubesdb->last_error()}};
  if (!req.contains("vm")) return facts;
  std::string vm;
  if (auto e = vm_arg(req, &vm)) throw std::invalid_argument(*e);
  json vifs = json::array();
  for (const auto& d : ctx.nb.devices()) {
    bool mine = false;
    for (const auto& s : ctx.dp.vifs()) mine |= s.up && s.info.domid == d.domid && s.info.devid == d.devid && pl.client_is(s.info.id, vm);
    mine |= d.name == vm || std::find(d.ips.begin(), d.ips.end(), vm) != d.ips.end();
    if (!mine) continue;
    json v{{"domid", d.domid.value()}, {"devid", d.devid}, {"state", xen::to_string(d.backend_state)},
           {"connected", d.connected}, {"ips", d.ips}, {"mac", d.mac}, {"sg", d.guest_sg}, {"gso4", d.guest_gso4},
           {"gso6", d.guest_gso6}, {"rx_stalled", d.rx_stalled}, {"mtu", firewall::kVmMtu}};
    if (!d.refused.empty()) v["refused"] = d.refused;
    if (d.disconnect_reason) v["disconnected"] = netback::describe(*d.disconnect_reason);
    vifs.push_back(v);
  }
  json dns = json::array();
  for (const auto& a : n.dns_virtual) {
    firewall::FlowQuery q;
    q.proto = 17;
    q.dst4 = a;
    q.dport = 53;
    const auto x = pl.explain(vm, q);
    dns.push_back({{"dst", a.str()}, {"verdict", x.verdict}, {"rule", x.rule ? json(*x.rule) : json(nullptr)}, {"reason", x.reason}});
  }
  json drops = json::array();
  ctx.dp.recent_drops().each([&](const DropRecord& d) {
    if (d.vm == vm) drops.push_back(drop_json(d, false));
  });
  const char* source = pl.rules_source(vm);
  facts["vm"] = {{"name", vm}, {"vifs", vifs}, {"dns", dns}, {"drops", drops}, {"rules_source", *source ? source : "default"}};
  if (const auto* why = pl.rules_invalid(vm)) facts["vm"]["rules_invalid"] = *why;
  return facts;
}

}  // namespace

std::size_t apply_rules(firewall::Pipeline& pl, const RuleMap& old_rules, const RuleMap& new_rules,
                        const QubesDbLink* qubesdb) {
  auto mine = [&](const std::string& vm) { return !qubesdb || !qubesdb->manages(vm); };
  std::size_t cut = 0;
  for (const auto& [vm, list] : old_rules)
    if (!new_rules.count(vm) && mine(vm)) cut += pl.remove_rules(vm);
  for (const auto& [vm, list] : new_rules)
    if (mine(vm)) cut += pl.set_rules(vm, list);
  return cut;
}

json drop_json(const DropRecord& d, bool with_bytes) {
  json j{{"seq", d.seq}, {"time_ms", d.time_ms}, {"vm", d.vm}, {"reason", firewall::name(d.reason)},
         {"what", d.what}, {"len", d.len}};
  if (with_bytes) j["head"] = to_hex(d.head);
  return j;
}

void publish_drop(ControlContext& ctx, const DropRecord& d) {
  if (ctx.drop_followers.empty()) return;
  json e = drop_json(d, true);
  e["event"] = "drop";
  const std::string line = e.dump() + "\n";
  std::erase_if(ctx.drop_followers, [](const auto& s) { return !s->open(); });
  for (const auto& s : ctx.drop_followers) (void)s->send(line);  // a follower that is behind misses it
}

// Stores, then applies. Nothing changes if storing fails.
std::variant<std::size_t, StoreError> commit_rules(ControlContext& ctx, RuleMap next) {
  if (ctx.qubesdb) {
    for (const auto& [vm, dir] : ctx.qubesdb->rules()) {
      const auto a = ctx.rules.find(vm), b = next.find(vm);
      const bool same = (a == ctx.rules.end()) == (b == next.end()) && (a == ctx.rules.end() || a->second == b->second);
      if (!same)
        return StoreError{vm + ": its rules come from QubesDB: change them in dom0 (qvm-firewall, or the VM's "
                          "Settings, Firewall rules); xfwctl changes only rules QubesDB does not manage"};
    }
  }
  if (!ctx.rules_path.empty())
    if (auto e = save_rules(ctx.rules_path, next)) return *e;
  const std::size_t cut = apply_rules(ctx.dp.pipeline(), ctx.rules, next, ctx.qubesdb);
  ctx.rules = std::move(next);
  return cut;
}

std::size_t expire_rules(ControlContext& ctx, int64_t now, std::string* error) {
  RuleMap next = ctx.rules;
  std::size_t gone = 0;
  for (auto& [vm, list] : next)
    gone += std::size_t(std::erase_if(list, [&](const firewall::Rule& r) { return r.expire && *r.expire <= now; }));
  if (gone == 0) return 0;
  if (!ctx.rules_path.empty())
    if (auto e = save_rules(ctx.rules_path, next)) *error = e->message;
  (void)apply_rules(ctx.dp.pipeline(), ctx.rules, next, ctx.qubesdb);
  ctx.rules = std::move(next);
  return gone;
}

ControlServer::Reply handle_control(ControlContext& ctx, const json& req) {
  if (!req.contains("command") || !req["command"].is_string()) return {fail("missing \"command\"")};
  const std::string cmd = req["command"];
  auto& pl = ctx.dp.pipeline();
  const int64_t now = Dataplane::now_ms();
  std::string vm;

  if (cmd == "status") {
    return {ok(json{{"version", XFW_VERSION},
                    {"uptime_s", (now - ctx.started_ms) / 1000},
                    {"heap_bytes", heap_bytes()},
                    {"uplink", ctx.uplink},
                    {"uplink_counters", [&] {
                       const UplinkCounters u = ctx.dp.uplink_counters();
                       return json{{"rx_frames", u.rx_frames}, {"rx_bytes", u.rx_bytes}, {"rx_truncated", u.rx_truncated},
                                   {"tx_frames", u.tx_frames}, {"tx_bytes", u.tx_bytes}, {"tx_errors", u.tx_errors},
                                   {"tx_gso", u.tx_gso}};
                     }()},
                    {"uplink_status", ctx.dp.uplink() ? ctx.dp.uplink()->status() : json(nullptr)},
                    {"vifs", ctx.nb.connected_vifs()},
                    {"flows", pl.conntrack().size()},
                    {"flow_limit", pl.conntrack().capacity()},
                    {"qubesdb", [&] {
                       if (!ctx.qubesdb) return json(nullptr);
                       const auto& q = *ctx.qubesdb;
                       return json{{"socket", q.socket_path()}, {"connected", q.connected()}, {"synced", q.synced()},
                                   {"connects", q.connects()}, {"clients", q.rules().size()},
                                   {"last_error", q.last_error()}, {"values", q.values()}};
                     }()}})};
  }
  if (cmd == "vifs") {
    std::map<std::pair<uint32_t, uint32_t>, uint64_t> flows;  // live connections by pipeline vif
    pl.conntrack().for_each([&](uint32_t, const nat::Flow& f) {
      if (f.expires > now) ++flows[{f.vif_slot, f.vif_gen}];
    });
    json a = json::array();
    for (const auto& d : ctx.nb.devices()) {
      json v{{"domid", d.domid.value()}, {"devid", d.devid}, {"name", d.name}, {"mac", d.mac},
             {"ips", d.ips}, {"state", xen::to_string(d.backend_state)}, {"connected", d.connected},
             {"rx_packets", d.counters.from_guest_packets}, {"rx_bytes", d.counters.from_guest_bytes},
             {"tx_packets", d.counters.to_guest_packets}, {"tx_bytes", d.counters.to_guest_bytes},
             {"events", d.counters.events}, {"spurious_events", d.counters.spurious_events},
             {"notifications", d.counters.notifications},
             {"forwarded", 0}, {"dropped", 0}, {"vm", ""}, {"flows", 0}};
      for (const auto& s : ctx.dp.vifs())
        if (s.up && s.info.domid == d.domid && s.info.devid == d.devid) {
          v["forwarded"] = s.forwarded;
          v["dropped"] = s.dropped;
          v["vm"] = pl.vm_of(s.info.id);
          v["flows"] = flows[{s.info.id.slot, s.info.id.gen}];
        }
      uint64_t nb_drops = 0;
      json by_reason = json::object();  // netback's reasons, this vif's connection
      for (std::size_t r = 0; r < netback::kDropReasonCount; ++r)
        if (d.counters.drops[r]) nb_drops += d.counters.drops[r], by_reason[netback::name(netback::DropReason(r))] = d.counters.drops[r];
      v["dropped"] = v["dropped"].get<uint64_t>() + nb_drops;
      v["netback_drops"] = by_reason;
      v["rx_stalled"] = d.rx_stalled;
      if (!d.refused.empty()) v["refused"] = d.refused;
      if (d.disconnect_reason) v["disconnected"] = netback::describe(*d.disconnect_reason);
      a.push_back(v);
    }
    return {ok(a)};
  }
  if (cmd == "rules.list") {
    json r = json::object(), sources = json::object(), refused = json::object();
    const bool one = req.contains("vm");
    if (one)
      if (auto e = vm_arg(req, &vm)) return {fail(*e)};
    for (const auto& [name, list] : ctx.rules)
      if (!one || name == vm) r[name] = rule_texts(list), sources[name] = "local";
    if (ctx.qubesdb) {
      for (const auto& [name, dir] : ctx.qubesdb->rules()) {
        if (one && name != vm) continue;
        r[name] = rule_texts(dir.rules);
        sources[name] = "qubesdb";
        if (!dir.error.empty()) refused[name] = dir.error;
      }
    }
    if (one && !r.contains(vm)) r[vm] = json::array();
    json reply = ok(r);
    reply["sources"] = sources;
    reply["refused"] = refused;
    return {reply};
  }
  if (cmd == "rules.add") {
    if (auto e = vm_arg(req, &vm)) return {fail(*e)};
    std::vector<firewall::Rule> one;
    if (auto e = parse_rules(json::array({req.value("rule", json())}), one)) return {*e};
    RuleMap next = ctx.rules;
    auto& list = next[vm];
    std::size_t at = list.size();
    if (req.contains("before")) {
      if (!req["before"].is_number_unsigned() || req["before"].get<std::size_t>() >= list.size())
        return {fail("--before: " + vm + " has no rule " + req["before"].dump() + " (it has " + std::to_string(list.size()) + ")")};
      at = req["before"].get<std::size_t>();
    }
    list.insert(list.begin() + long(at), one[0]);
    json r = commit(ctx, std::move(next));
    if (r["ok"]) r["result"]["number"] = at;
    return {r};
  }
  if (cmd == "rules.del") {
    if (auto e = vm_arg(req, &vm)) return {fail(*e)};
    const auto it = ctx.rules.find(vm);
    const std::size_t have = it == ctx.rules.end() ? 0 : it->second.size();
    if (!req.contains("number") || !req["number"].is_number_unsigned() || req["number"].get<std::size_t>() >= have)
      return {fail(vm + " has no rule " + req.value("number", json()).dump() + " (it has " + std::to_string(have) + ")")};
    RuleMap next = ctx.rules;
    next[vm].erase(next[vm].begin() + long(req["number"].get<std::size_t>()));
    return {commit(ctx, std::move(next))};
  }
  if (cmd == "rules.replace") {
    if (auto e = vm_arg(req, &vm)) return {fail(*e)};
    std::vector<firewall::Rule> list;
    if (auto e = parse_rules(req.value("rules", json()), list)) return {*e};
    RuleMap next = ctx.rules;
    next[vm] = std::move(list);
    return {commit(ctx, std::move(next))};
  }
  if (cmd == "rules.apply" || cmd == "rules.merge") {  // merge: only the VMs given change
    if (!req.contains("rules") || !req["rules"].is_object()) return {fail("rules: expected {vm: [rules]}")};
    RuleMap next = cmd == "rules.merge" ? ctx.rules : RuleMap{};
    for (const auto& [name, list] : req["rules"].items()) {
      if (!valid_vm_name(name)) return {fail("bad VM name \"" + name + "\"")};
      next[name].clear();
      if (auto e = parse_rules(list, next[name])) {
        (*e)["vm"] = name;
        (*e)["error"] = name + " " + (*e)["error"].get<std::string>();
        return {*e};
      }
    }
    return {commit(ctx, std::move(next))};
  }
  if (cmd == "rules.explain") {
    if (auto e = vm_arg(req, &vm)) return {fail(*e)};
    const std::string proto = req.value("proto", "");
    const std::string dst = req.value("dst", "");
    firewall::FlowQuery q;
    if (const auto a4 = packet::Ipv4Addr::parse(dst)) {
      q.dst4 = *a4;
    } else if (const auto a6 = packet::Ipv6Addr::parse(dst)) {
      q.v6 = true;
      q.dst6 = *a6;
    } else {
      return {fail("dst: not an IPv4 or IPv6 address: \"" + dst + "\"")};
    }
    if (proto == "tcp") q.proto = 6;
    else if (proto == "udp") q.proto = 17;
    else if (proto == "icmp") q.proto = q.v6 ? 58 : 1;
    else return {fail("proto: must be tcp, udp or icmp")};
    if (req.contains("port")) {
      if (!req["port"].is_number_unsigned() || req["port"].get<uint32_t>() > 65535 || q.proto == 1 || q.proto == 58)
        return {fail("port: 0..65535, with tcp or udp")};
      q.dport = req["port"].get<uint16_t>();
    }
    q.icmp_type = uint8_t(req.value("icmp_type", q.v6 ? 128 : 8));
    const auto x = pl.explain(vm, q);
    const char* source = pl.rules_source(vm);
    return {ok(json{{"verdict", x.verdict}, {"rule", x.rule ? json(*x.rule) : json(nullptr)}, {"reason", x.reason},
                    {"source", *source ? source : "default"}})};
  }
  if (cmd == "conntrack") {
    const bool one = req.contains("vm");
    if (one)
      if (auto e = vm_arg(req, &vm)) return {fail(*e)};
    json a = json::array();
    pl.conntrack().for_each([&](uint32_t, const nat::Flow& f) {
      if (f.expires <= now) return;
      json j = flow_json(pl, pl.conntrack(), f, now);
      if (!one || j["vm"] == vm) a.push_back(std::move(j));
    });
    return {ok(a)};
  }
  if (cmd == "conntrack.flush") {
    if (auto e = vm_arg(req, &vm)) return {fail(*e)};
    return {ok(json{{"flushed", pl.flush_flows(vm)}})};
  }
  if (cmd == "stats") {
    json drops = json::object();
    for (std::size_t r = 0; r < kDropReasons; ++r)
      if (ctx.dp.drops()[r]) drops[firewall::name(firewall::DropReason(r))] = ctx.dp.drops()[r];
    json nb_drops = json::object();
    json vifs = json::array();
    for (const auto& d : ctx.nb.devices()) {
      for (std::size_t r = 0; r < netback::kDropReasonCount; ++r)
        if (d.counters.drops[r]) {
          const std::string key = netback::name(netback::DropReason(r));
          nb_drops[key] = nb_drops.value(key, uint64_t{0}) + d.counters.drops[r];
        }
    }
    for (const auto& s : ctx.dp.vifs())
      if (s.up) vifs.push_back(json{{"vm", pl.vm_of(s.info.id)}, {"domid", s.info.domid.value()},
                                    {"forwarded", s.forwarded}, {"dropped", s.dropped}});
    return {ok(json{{"drops", drops}, {"netback_drops", nb_drops}, {"vifs", vifs},
                    {"uplink_forwarded", ctx.dp.uplink_forwarded()},
                    {"segmented", ctx.dp.segmented()},
                    {"gso_to_vms", ctx.dp.gso_to_vms()},
                    {"gso_to_uplink", ctx.dp.gso_to_uplink()}})};
  }
  if (cmd == "drops") {
    const bool bytes = req.value("bytes", false);
    json a = json::array();
    ctx.dp.recent_drops().each([&](const DropRecord& d) { a.push_back(drop_json(d, bytes)); });
    if (!req.value("follow", false)) return {ok(a)};
    return {ok(a), [&ctx](const std::shared_ptr<ControlServer::Stream>& s) {
              s->on_end = [&ctx, p = s.get()] { std::erase_if(ctx.drop_followers, [p](const auto& f) { return f.get() == p; }); };
              ctx.drop_followers.push_back(s);
            }};
  }
  if (cmd == "diagnose") return {ok(diagnose_facts(ctx, req, now))};
  if (cmd == "capture") {
    auto spec = capture_spec(req);
    if (const auto* e = std::get_if<std::string>(&spec)) return {fail(*e)};
    auto& cs = std::get<CaptureSpec>(spec);
    std::size_t vifs = 0;  // of the VM, attached now (a capture may wait for its VM to start)
    for (const auto& v : ctx.dp.vifs()) vifs += v.up && pl.client_is(v.info.id, cs.target);
    if (!cs.drops && cs.target == "uplink") vifs = ctx.uplink.empty() ? 0 : 1;
    if (ctx.dp.captures().size() >= kMaxCaptures) return {fail("too many captures running (" + std::to_string(kMaxCaptures) + ")")};
    return {ok(json{{"vifs", vifs}}), [&ctx, cs = std::move(cs)](const std::shared_ptr<ControlServer::Stream>& s) mutable {
              spdlog::info("capture of {}{}{} started{}", cs.drops ? "drops" : "", cs.drops && !cs.target.empty() ? " of " : "",
                           cs.target, cs.filter.empty() ? "" : " (" + cs.filter + ")");
              const uint64_t id = ctx.dp.captures().add(std::move(cs), std::make_shared<StreamSink>(s));
              s->on_end = [&ctx, id] { ctx.dp.captures().end(id, "reader"); };
            }};
  }
  return {fail("unknown command \"" + cmd + "\"")};
}

}  // namespace xfw::daemon
