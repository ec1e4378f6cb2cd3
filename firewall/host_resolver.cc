#include "firewall/host_resolver.h"

#include <algorithm>

namespace xfw::firewall {

void HostResolver::set_hosts(const std::vector<std::string>& names) {
  std::map<std::string, Host> kept;
  for (const auto& n : names) {
    auto it = hosts_.find(n);
    kept[n] = it != hosts_.end() ? it->second : Host{};
  }
  hosts_ = std::move(kept);
}

std::vector<HostResolver::Known> HostResolver::known() const {
  std::vector<Known> out;
  for (const auto& [name, h] : hosts_)
    if (!h.addrs.v4.empty() || !h.addrs.v6.empty()) out.push_back(Known{name, h.addrs, h.a.refresh_at, h.aaaa.refresh_at});
  return out;
}

bool HostResolver::restore(const Known& k) {
  const auto it = hosts_.find(k.name);
  if (it == hosts_.end()) return false;
  it->second.addrs = k.addrs;
  it->second.a.refresh_at = k.refresh_a;
  it->second.aaaa.refresh_at = k.refresh_aaaa;
  return true;
}

std::vector<HostResolver::Query> HostResolver::due(int64_t now,
                                                   const std::vector<packet::Ipv4Addr>& servers) {
  std::vector<Query> out;
  if (servers.empty()) return out;
  for (auto& [name, h] : hosts_) {
    for (auto [l, qtype] : {std::pair{&h.a, dns::kTypeA}, std::pair{&h.aaaa, dns::kTypeAAAA}}) {
      const bool timed_out = l->in_flight && now - l->sent >= kTimeoutMs;
      if (l->in_flight && !timed_out) continue;
      if (!l->in_flight && now < l->refresh_at) continue;
      l->in_flight = true;
      l->id = uint16_t(rng_());
      l->sport = uint16_t(kPortLo + rng_() % (65536 - kPortLo));
      l->server = servers[l->next_server++ % servers.size()];
      l->sent = now;
      out.push_back(Query{name, qtype, l->id, l->sport, l->server});
    }
  }
  return out;
}

std::optional<std::pair<std::string, Resolved>> HostResolver::on_response(
    const dns::Response& r, packet::Ipv4Addr server, uint16_t dport, int64_t now) {
  const auto it = hosts_.find(r.name);
  if (it == hosts_.end()) return std::nullopt;
  Host& h = it->second;
  Lookup* l = r.qtype == dns::kTypeA ? &h.a : r.qtype == dns::kTypeAAAA ? &h.aaaa : nullptr;
  if (!l || !l->in_flight || l->id != r.id || l->sport != dport || l->server != server)
    return std::nullopt;
  l->in_flight = false;
  const bool found = !r.v4.empty() || !r.v6.empty();
  const uint32_t ttl = std::clamp(r.ttl, kMinTtl, kMaxTtl);
  l->refresh_at = now + (found ? int64_t(ttl) * 1000 : kNegativeMs);
  if (r.qtype == dns::kTypeA) {
    h.addrs.v4 = r.v4;
  } else {
    h.addrs.v6 = r.v6;
  }
  return std::pair{it->first, h.addrs};
}

}  // namespace xfw::firewall
