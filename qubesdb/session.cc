#include "qubesdb/session.h"

#include <algorithm>

namespace xfw::qubesdb {

std::vector<std::byte> Session::start() {
  std::vector<std::byte> out;
  ask(Kind::watch, std::string(kFirewallRoot), out);
  for (const auto k : kKeys) ask(Kind::watch, std::string(k), out);
  ask(Kind::read_all, std::string(kFirewallRoot), out);
  for (const auto k : kKeys) ask(Kind::read, std::string(k), out);
  initial_left_ = pending_.size();
  return out;
}

void Session::ask(Kind kind, std::string path, std::vector<std::byte>& out) {
  if (kind == Kind::read || kind == Kind::read_dir) {
    const bool waiting = std::any_of(pending_.begin(), pending_.end(), [&](const Pending& p) {
      return p.kind == kind && p.path == path && !p.started;
    });
    if (waiting) return;
  }
  if (pending_.size() >= kMaxPending) return fail("more than " + std::to_string(kMaxPending) + " requests unanswered");
  static constexpr Msg kCmd[] = {Msg::watch, Msg::read, Msg::multiread, Msg::multiread};
  const auto bytes = encode(kCmd[int(kind)], path);
  out.insert(out.end(), bytes.begin(), bytes.end());
  pending_.push_back(Pending{kind, std::move(path)});
}

std::vector<std::byte> Session::receive(std::span<const std::byte> bytes) {
  std::vector<std::byte> out;
  dec_.feed(bytes);
  while (error_.empty()) {
    auto m = dec_.next();
    if (!m) break;
    handle(std::move(*m), out);
  }
  if (!dec_.error().empty()) fail(dec_.error());
  return out;
}

void Session::handle(Message&& m, std::vector<std::byte>& out) {
  if (m.type == Msg::resp_watch) {
    ++events_;
    return on_watch(m.path, out);
  }
  if (pending_.empty()) return fail(std::string("unsolicited ") + name(m.type) + " " + m.path);
  Pending& p = pending_.front();
  const bool initial = initial_left_ > 0;
  auto done = [&] {
    pending_.pop_front();
    if (initial && --initial_left_ == 0) {
      synced_ = true;
      changes_.synced = true;
    }
  };
  if (m.type == Msg::error) return fail("the daemon refused " + p.path);
  switch (p.kind) {
    case Kind::watch:
      if (m.type != Msg::ok) return fail(std::string("watch ") + p.path + " answered with " + name(m.type));
      return done();
    case Kind::read:
      if (m.type == Msg::error_noent) {
        if (values_.erase(p.path)) changes_.values[p.path] = std::nullopt;
        else if (initial) changes_.values[p.path] = std::nullopt;
        return done();
      }
      if (m.type != Msg::resp_read || m.path != p.path)
        return fail("read " + p.path + " answered with " + name(m.type) + " " + m.path);
      if (auto it = values_.find(p.path); it == values_.end() || it->second != m.data || initial) {
        values_[p.path] = m.data;
        changes_.values[p.path] = std::move(m.data);
      }
      return done();
    case Kind::read_all:
    case Kind::read_dir: {
      if (m.type != Msg::resp_multiread) return fail("multiread " + p.path + " answered with " + name(m.type));
      if (m.path.empty()) {  // end of the entries
        if (!m.data.empty()) return fail("multiread end marker with data");
        if (p.kind == Kind::read_all) {
          finish_read_all();
        } else {
          finish_read_dir(p.path.substr(kFirewallRoot.size(), p.path.size() - kFirewallRoot.size() - 1));
        }
        collecting_.clear();
        collected_bytes_ = 0;
        return done();
      }
      if (m.path.compare(0, p.path.size(), p.path) != 0)
        return fail("multiread " + p.path + " answered with " + m.path);
      p.started = true;
      collected_bytes_ += m.path.size() + m.data.size();
      if (collected_bytes_ > kMaxReadBytes) return fail("multiread " + p.path + " answered with more than 16 MiB");
      const std::string rest = m.path.substr(kFirewallRoot.size());
      if (p.kind == Kind::read_dir) {
        collecting_[""][rest.substr(p.path.size() - kFirewallRoot.size())] = std::move(m.data);
        return;
      }
      const auto slash = rest.find('/');
      const std::string addr = rest.substr(0, slash);
      if (!valid_client_address(addr)) return;  // no client can have it
      auto& dir = collecting_[addr];
      if (slash != std::string::npos) dir[rest.substr(slash + 1)] = std::move(m.data);
      return;
    }
  }
}

void Session::on_watch(const std::string& path, std::vector<std::byte>& out) {
  if (path.compare(0, kFirewallRoot.size(), kFirewallRoot) == 0) {
    const std::string addr = path.substr(kFirewallRoot.size());
    // Only the empty write to /qubes-firewall/<addr> means "update complete"; the rules under
    // it are written (and removed) before it, one by one, and each fires the watch too.
    if (addr.find('/') == std::string::npos && valid_client_address(addr))
      ask(Kind::read_dir, std::string(kFirewallRoot) + addr + "/", out);
    return;
  }
  if (std::find(kKeys.begin(), kKeys.end(), path) != kKeys.end()) ask(Kind::read, path, out);
}

void Session::finish_read_all() {
  std::map<std::string, FirewallDir> next;
  if (collecting_.size() > kMaxClients) return fail("more than " + std::to_string(kMaxClients) + " clients");
  for (const auto& [addr, leaves] : collecting_) next[addr] = parse_firewall_dir(leaves);
  for (const auto& [addr, dir] : firewall_)
    if (!next.count(addr)) changes_.firewall[addr] = std::nullopt;
  for (const auto& [addr, dir] : next) changes_.firewall[addr] = dir;
  firewall_ = std::move(next);
}

void Session::finish_read_dir(const std::string& addr) {
  // No entry at all (dom0 removed the client's rules) is refused like a missing policy, as the
  // agent does: everything from that address is dropped.
  if (!firewall_.count(addr) && firewall_.size() >= kMaxClients)
    return fail("more than " + std::to_string(kMaxClients) + " clients");
  FirewallDir dir = parse_firewall_dir(collecting_[""]);
  changes_.firewall[addr] = dir;
  firewall_[addr] = std::move(dir);
}

Changes Session::take_changes() {
  Changes c = std::move(changes_);
  changes_ = Changes{};
  return c;
}

}  // namespace xfw::qubesdb
