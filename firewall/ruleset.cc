#include "firewall/ruleset.h"

#include <algorithm>

#include "packet/parse.h"

namespace xfw::firewall {
namespace {

template <std::size_t N>
std::array<uint8_t, 16> masked(const std::array<uint8_t, N>& a, unsigned len) {
  std::array<uint8_t, 16> out{};
  for (std::size_t i = 0; i < N; ++i) {
    const unsigned keep = len >= (i + 1) * 8 ? 8 : len > i * 8 ? len - unsigned(i * 8) : 0;
    out[i] = uint8_t(a[i] & (keep == 8 ? 0xFF : ~(0xFFu >> keep) & 0xFF));
  }
  return out;
}

uint8_t proto_number(Proto p, bool v6) {
  switch (p) {
    case Proto::tcp: return packet::ipproto::tcp;
    case Proto::udp: return packet::ipproto::udp;
    case Proto::icmp: return v6 ? packet::ipproto::icmpv6 : packet::ipproto::icmp;
  }
  return 0;
}

}  // namespace

const char* name(Why w) {
  switch (w) {
    case Why::rule: return "rule";
    case Why::policy: return "policy";
    case Why::unresolved_host: return "unresolved_host";
    case Why::invalid: return "invalid";
  }
  return "?";
}

std::size_t RuleSet::PrefixHash::operator()(const PrefixKey& k) const {
  uint64_t h = 0xcbf29ce484222325ull ^ k.len;  // FNV-1a over the key
  for (uint8_t b : k.addr) h = (h ^ b) * 0x100000001b3ull;
  return std::size_t(h);
}

RuleSet RuleSet::refused(std::string why) {
  RuleSet rs;
  rs.invalid_ = why.empty() ? "invalid rules" : std::move(why);
  return rs;
}

RuleSet RuleSet::build(const std::vector<Rule>& rules,
                       const std::vector<packet::Ipv4Addr>& dns_addrs,
                       const std::map<std::string, Resolved>& resolved) {
  RuleSet rs;
  auto add = [](Family& fam, const std::array<uint8_t, 16>& net, unsigned len, Entry e) {
    fam.by_prefix[PrefixKey{net, uint8_t(len)}].push_back(e);
    if (std::find(fam.lengths.begin(), fam.lengths.end(), len) == fam.lengths.end())
      fam.lengths.push_back(uint8_t(len));
  };
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const Rule& r = rules[i];
    rs.actions_.push_back(r.action);
    Entry e{uint32_t(i), 0, false, 0, 0, -1};
    if (r.ports) e.ported = true, e.port_lo = r.ports->lo, e.port_hi = r.ports->hi;
    if (r.icmp_type) e.icmp_type = *r.icmp_type;
    auto entry = [&](bool v6) {
      Entry x = e;
      if (r.proto) x.proto = proto_number(*r.proto, v6);
      return x;
    };
    if (std::holds_alternative<std::monostate>(r.dst)) {
      // No destination: matches both families; proto=icmp means ICMP or ICMPv6.
      if (r.proto == Proto::icmp) {
        rs.any_dst_.push_back(entry(false));
        rs.any_dst_.push_back(entry(true));
      } else {
        rs.any_dst_.push_back(entry(false));
      }
    } else if (const auto* c4 = std::get_if<Cidr4>(&r.dst)) {
      add(rs.v4_, masked(c4->addr.b, c4->len), c4->len, entry(false));
    } else if (const auto* c6 = std::get_if<Cidr6>(&r.dst)) {
      add(rs.v6_, masked(c6->addr.b, c6->len), c6->len, entry(true));
    } else if (const auto* host = std::get_if<std::string>(&r.dst)) {
      const auto it = resolved.find(*host);
      if (it == resolved.end()) {
        if (rs.unresolved_.empty()) rs.unresolved_ = *host;
        continue;
      }
      for (const auto& a : it->second.v4) add(rs.v4_, masked(a.b, 32), 32, entry(false));
      for (const auto& a : it->second.v6) add(rs.v6_, masked(a.b, 128), 128, entry(true));
    } else {  // specialtarget=dns: the DNS addresses, port 53, tcp or udp
      Entry x = entry(false);
      x.ported = true;
      x.port_lo = x.port_hi = 53;
      for (const auto& a : dns_addrs) {
        if (r.proto) {
          add(rs.v4_, masked(a.b, 32), 32, x);
        } else {
          for (uint8_t p : {packet::ipproto::udp, packet::ipproto::tcp}) {
            x.proto = p;
            add(rs.v4_, masked(a.b, 32), 32, x);
          }
        }
      }
    }
  }
  for (Family* f : {&rs.v4_, &rs.v6_}) std::sort(f->lengths.rbegin(), f->lengths.rend());
  return rs;
}

bool RuleSet::matches(const Entry& e, const FlowQuery& q) {
  if (e.proto != 0 && e.proto != q.proto) return false;
  const bool ported = q.proto == packet::ipproto::tcp || q.proto == packet::ipproto::udp;
  if (e.ported) {  // dstports given: tcp/udp only
    if (!ported || q.dport < e.port_lo || q.dport > e.port_hi) return false;
  }
  if (e.icmp_type >= 0 && q.icmp_type != e.icmp_type) return false;
  return true;
}

void RuleSet::first_match(const std::vector<Entry>& list, const FlowQuery& q,
                          uint32_t& best) const {
  for (const Entry& e : list) {  // in rule order: the first match is this list's best
    if (e.index >= best) return;
    if (matches(e, q)) {
      best = e.index;
      return;
    }
  }
}

template <std::size_t N>
void RuleSet::lookup(const Family& fam, const std::array<uint8_t, N>& addr, const FlowQuery& q,
                     uint32_t& best) const {
  for (uint8_t len : fam.lengths) {
    const auto it = fam.by_prefix.find(PrefixKey{masked(addr, len), len});
    if (it != fam.by_prefix.end()) first_match(it->second, q, best);
  }
}

Decision RuleSet::classify(const FlowQuery& q) const {
  if (!invalid_.empty()) return Decision{Action::drop, std::nullopt, Why::invalid, invalid_};
  if (!unresolved_.empty()) return Decision{Action::drop, std::nullopt, Why::unresolved_host, unresolved_};
  uint32_t best = UINT32_MAX;
  first_match(any_dst_, q, best);
  if (q.v6) {
    lookup(v6_, q.dst6.b, q, best);
  } else {
    lookup(v4_, q.dst4.b, q, best);
  }
  if (best == UINT32_MAX) return Decision{};
  return Decision{actions_[best], best, Why::rule, {}};
}

}  // namespace xfw::firewall
