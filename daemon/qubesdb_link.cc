#include "daemon/qubesdb_link.h"

#include <spdlog/spdlog.h>

#include <sstream>

#include "nat/rewrite.h"

namespace xfw::daemon {

using boost::asio::local::stream_protocol;

QubesDbLink::QubesDbLink(boost::asio::io_context& io, std::string socket, Dataplane& dp,
                         firewall::NetworkConfig base, const RuleMap& local)
    : io_(io), path_(std::move(socket)), dp_(dp), base_(std::move(base)), local_(local), retry_(io) {}

void QubesDbLink::start() { connect(); }

void QubesDbLink::stop() {
  stopped_ = true;
  retry_.cancel();
  if (sock_) {
    boost::system::error_code ec;
    sock_->close(ec);
  }
}

void QubesDbLink::connect() {
  if (stopped_) return;
  sock_ = std::make_unique<stream_protocol::socket>(io_);
  const uint64_t gen = ++gen_;
  sock_->async_connect(stream_protocol::endpoint(path_), [this, gen](boost::system::error_code ec) {
    if (stopped_ || gen != gen_) return;
    if (ec) {
      if (!logged_absent_) spdlog::warn("QubesDB: cannot connect to {} ({}); trying every second", path_, ec.message());
      logged_absent_ = true;
      last_error_ = "cannot connect: " + ec.message();
      retry_.expires_after(std::chrono::seconds(1));
      retry_.async_wait([this](boost::system::error_code e) {
        if (!e) connect();
      });
      return;
    }
    logged_absent_ = false;
    connected_ = true;
    ++connects_;
    spdlog::info("QubesDB: connected to {}", path_);
    session_ = std::make_unique<qubesdb::Session>();
    out_.clear();
    writing_.clear();
    send(session_->start());
    read();
  });
}

void QubesDbLink::read() {
  sock_->async_read_some(boost::asio::buffer(in_), [this, gen = gen_](boost::system::error_code ec, std::size_t n) {
    if (stopped_ || gen != gen_) return;
    if (ec) return lost(ec == boost::asio::error::eof ? "the daemon closed the connection" : ec.message());
    auto reply = session_->receive(std::span(in_.data(), n));
    if (!session_->error().empty()) return lost("protocol error: " + session_->error());
    apply(session_->take_changes());
    send(std::move(reply));
    read();
  });
}

void QubesDbLink::send(std::vector<std::byte> bytes) {
  out_.insert(out_.end(), bytes.begin(), bytes.end());
  flush();
}

void QubesDbLink::flush() {
  if (!writing_.empty() || out_.empty() || !connected_) return;
  writing_.swap(out_);
  boost::asio::async_write(*sock_, boost::asio::buffer(writing_), [this, gen = gen_](boost::system::error_code ec, std::size_t) {
    if (stopped_ || gen != gen_) return;
    writing_.clear();
    if (ec) return lost(ec.message());
    flush();
  });
}

// Nothing applied is undone: the rules, addresses and network stay as they were.
void QubesDbLink::lost(const std::string& why) {
  if (!connected_) return;
  connected_ = false;
  synced_ = false;
  last_error_ = why;
  spdlog::error("QubesDB: lost {} ({}); keeping the last rules, reconnecting", path_, why);
  boost::system::error_code ec;
  sock_->close(ec);
  out_.clear();
  retry_.expires_after(std::chrono::seconds(1));
  retry_.async_wait([this](boost::system::error_code e) {
    if (!e) connect();
  });
}

void QubesDbLink::apply(qubesdb::Changes c) {
  if (c.empty()) return;
  auto& pl = dp_.pipeline();
  if (c.synced) {  // a full read: clients the previous connection gave and this one does not are gone
    for (const auto& [addr, dir] : applied_)
      if (!session_->firewall().count(addr) && !c.firewall.count(addr)) c.firewall[addr] = std::nullopt;
  }
  for (auto& [addr, dir] : c.firewall) {
    if (!dir) {
      if (!applied_.erase(addr)) continue;
      const auto local = local_.find(addr);
      const std::size_t cut = local == local_.end() ? pl.remove_rules(addr) : pl.set_rules(addr, local->second);
      spdlog::warn("QubesDB: {} has no rules any more: {} ({} connections cut)", addr,
                   local == local_.end() ? "policy drop" : "its local rules apply", cut);
      continue;
    }
    const auto old = applied_.find(addr);
    if (old != applied_.end() && old->second == *dir) continue;
    if (!dir->error.empty()) {
      const std::size_t cut = pl.set_rules_invalid(addr, dir->error);
      spdlog::error("QubesDB: rules of {} refused, all its traffic is dropped: {} ({} connections cut)", addr,
                    dir->error, cut);
    } else {
      const std::size_t n = dir->rules.size();
      const std::size_t cut = pl.set_qubesdb_rules(addr, dir->rules);
      spdlog::info("QubesDB: rules of {}: {} ({} connections cut)", addr,
                   n == 0 ? std::string("none, policy drop") : std::to_string(n) + (n == 1 ? " rule" : " rules"), cut);
    }
    applied_[addr] = std::move(*dir);
  }
  bool network = false;
  for (auto& [key, value] : c.values) {
    if (value) values_[key] = *value;
    else values_.erase(key);
    network = true;
  }
  if (network || c.synced) apply_network();
  if (c.synced && !synced_) {
    synced_ = true;
    spdlog::info("QubesDB: read {} clients' rules and {} values", applied_.size(), values_.size());
    if (auto first = std::exchange(on_first_sync, nullptr)) first();
  }
}

namespace {

template <class A>
void take(const std::map<std::string, std::string>& v, const char* key, std::optional<A>& out) {
  const auto it = v.find(key);
  if (it == v.end() || it->second.empty()) return;
  if (const auto a = A::parse(it->second)) out = *a;
  else spdlog::warn("QubesDB: {} = \"{}\" is not an address; ignored", key, it->second);
}

// A primary and a secondary address: either present replaces `out`.
void take_pair(const std::map<std::string, std::string>& v, const char* first, const char* second,
               std::vector<packet::Ipv4Addr>& out) {
  std::optional<packet::Ipv4Addr> a, b;
  take(v, first, a);
  take(v, second, b);
  if (!a && !b) return;
  out.clear();
  for (const auto& x : {a, b})
    if (x) out.push_back(*x);
}

template <class A>
std::vector<A> words(const std::string& s, const char* key) {
  std::vector<A> out;
  std::istringstream in(s);
  std::string w;
  while (in >> w) {
    if (const auto a = A::parse(w)) out.push_back(*a);
    else spdlog::warn("QubesDB: {}: \"{}\" is not an address; ignored", key, w);
  }
  return out;
}

}  // namespace

void QubesDbLink::apply_network() {
  firewall::NetworkConfig n = base_;
  take(values_, "/qubes-ip", n.uplink_addr);
  take(values_, "/qubes-gateway", n.uplink_gateway);
  take(values_, "/qubes-ip6", n.uplink_addr6);
  take(values_, "/qubes-gateway6", n.uplink_gateway6);
  std::optional<packet::Ipv4Addr> gw;
  take(values_, "/qubes-netvm-gateway", gw);
  if (gw) n.gateway = *gw;
  take(values_, "/qubes-netvm-gateway6", n.gateway6);
  take_pair(values_, "/qubes-netvm-primary-dns", "/qubes-netvm-secondary-dns", n.dns_virtual);
  take_pair(values_, "/qubes-primary-dns", "/qubes-secondary-dns", n.resolvers);
  auto& pl = dp_.pipeline();
  if (!(n == pl.network())) {
    auto str = [](const auto& o) { return o ? o->str() : std::string("-"); };
    std::string dns, res;
    for (const auto& a : n.dns_virtual) dns += (dns.empty() ? "" : ",") + a.str();
    for (const auto& a : n.resolvers) res += (res.empty() ? "" : ",") + a.str();
    spdlog::info("QubesDB: network: uplink {} via {}, gateway {}, DNS {} -> {}", str(n.uplink_addr),
                 str(n.uplink_gateway), n.gateway.str(), dns, res.empty() ? "-" : res);
    pl.set_network(n);
  }
  std::vector<nat::Addr> known;
  if (const auto it = values_.find("/connected-ips"); it != values_.end())
    for (const auto& a : words<packet::Ipv4Addr>(it->second, "/connected-ips")) known.push_back(nat::addr_of(a));
  if (const auto it = values_.find("/connected-ips6"); it != values_.end())
    for (const auto& a : words<packet::Ipv6Addr>(it->second, "/connected-ips6")) known.push_back(nat::addr_of(a));
  pl.set_known_clients(known);
}

}  // namespace xfw::daemon
