#include "xen/sim/hypervisor.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace xfw::xen::sim {
namespace {

int make_eventfd() {
  const int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
  return fd;
}

void signal_fd(int fd) {
  const uint64_t one = 1;
  [[maybe_unused]] const auto n = ::write(fd, &one, sizeof one);
}

void drain_fd(int fd) {
  uint64_t v;
  [[maybe_unused]] const auto n = ::read(fd, &v, sizeof v);
}

// XenStore node names: absolute, no empty components, no trailing '/', limited characters.
bool valid_path(const std::string& p) {
  if (p.empty() || p[0] != '/' || p.size() > 3072) return false;
  if (p == "/") return true;
  if (p.back() == '/') return false;
  char prev = 0;
  for (char c : p) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '/' || c == '_' || c == '@' || c == '-' || c == '.';
    if (!ok || (c == '/' && prev == '/')) return false;
    prev = c;
  }
  return true;
}

std::string parent_of(const std::string& p) {
  const auto slash = p.rfind('/');
  return slash == 0 ? "/" : p.substr(0, slash);
}

// true if `a` is `b` or an ancestor of `b`, component-wise.
bool is_prefix(const std::string& a, const std::string& b) {
  if (a == "/") return true;
  return b.size() >= a.size() && b.compare(0, a.size(), a) == 0 &&
         (b.size() == a.size() || b[a.size()] == '/');
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// XenStore

bool SimHypervisor::can(DomId who, const Node& n, bool write) const {
  if (who.value() == 0) return true;  // dom0 is privileged
  if (n.perms.empty()) return false;
  if (n.perms[0].dom == who) return true;  // owner
  XsPermKind k = n.perms[0].kind;
  for (std::size_t i = 1; i < n.perms.size(); ++i) {
    if (n.perms[i].dom == who) k = n.perms[i].kind;
  }
  return write ? (k == XsPermKind::write || k == XsPermKind::both)
               : (k == XsPermKind::read || k == XsPermKind::both);
}

std::map<std::string, SimHypervisor::Node>& SimHypervisor::tree_for(XsTxn t, DomId who) {
  if (t.id != 0) {
    auto it = txns_.find(t.id);
    if (it != txns_.end() && it->second.dom == who) return it->second.tree;
    throw std::invalid_argument("bad transaction");
  }
  return tree_;
}

void SimHypervisor::changed(XsTxn t, const std::string& path, bool removed) {
  if (t.id != 0) {
    txns_.at(t.id).changed.push_back({path, removed});
    return;
  }
  ++generation_;
  fire(path, removed);
}

void SimHypervisor::fire(const std::string& path, bool removed) {
  // A change fires watches on the node and its ancestors; removing a node also fires watches
  // registered below it. deliver() only queues, so watches_ cannot change during the loop.
  for (const auto& w : watches_) {
    if (is_prefix(w.path, path) || (removed && is_prefix(path, w.path))) {
      w.conn->deliver(path, w.token);
    }
  }
}

bool SimHypervisor::ensure_parents(std::map<std::string, Node>& tree, const std::string& path,
                                   DomId who, XsTxn t) {
  // Find the nearest existing ancestor; the caller needs write access there. New intermediate
  // nodes inherit its permissions, owned by the creator when it is not dom0.
  std::vector<std::string> missing;
  std::string p = parent_of(path);
  while (!tree.contains(p)) {
    missing.push_back(p);
    p = parent_of(p);
  }
  const Node& anc = tree.at(p);
  if (!can(who, anc, true)) return false;
  std::vector<XsPerm> perms = anc.perms;
  if (who.value() != 0 && !perms.empty()) perms[0].dom = who;
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    tree[*it] = Node{"", perms};
    changed(t, *it);
  }
  return true;
}

SimXenStore::SimXenStore(SimHypervisor& hv, DomId self) : hv_(hv), self_(self), efd_(make_eventfd()) {}

SimXenStore::~SimXenStore() {
  std::erase_if(hv_.watches_, [this](const auto& w) { return w.conn == this; });
  std::erase_if(hv_.txns_, [this](const auto& kv) { return kv.second.dom == self_; });
  ::close(efd_);
}

std::optional<std::string> SimXenStore::read(XsTxn t, const std::string& path) {
  if (!valid_path(path)) return std::nullopt;
  auto& tree = hv_.tree_for(t, self_);
  auto it = tree.find(path);
  if (it == tree.end() || !hv_.can(self_, it->second, false)) return std::nullopt;
  return it->second.value;
}

bool SimXenStore::write(XsTxn t, const std::string& path, std::string_view value) {
  if (!valid_path(path) || path == "/" || value.size() > 4096) return false;
  auto& tree = hv_.tree_for(t, self_);
  auto it = tree.find(path);
  if (it != tree.end()) {
    if (!hv_.can(self_, it->second, true)) return false;
    it->second.value.assign(value);
  } else {
    if (!hv_.ensure_parents(tree, path, self_, t)) return false;
    std::vector<XsPerm> perms = tree.at(parent_of(path)).perms;
    if (self_.value() != 0 && !perms.empty()) perms[0].dom = self_;
    tree[path] = SimHypervisor::Node{std::string(value), perms};
  }
  hv_.changed(t, path);
  return true;
}

bool SimXenStore::mkdir(XsTxn t, const std::string& path) {
  if (!valid_path(path)) return false;
  auto& tree = hv_.tree_for(t, self_);
  if (tree.contains(path)) return true;
  return write(t, path, "");
}

bool SimXenStore::rm(XsTxn t, const std::string& path) {
  if (!valid_path(path) || path == "/") return false;
  auto& tree = hv_.tree_for(t, self_);
  auto it = tree.find(path);
  if (it == tree.end()) return true;
  if (!hv_.can(self_, it->second, true)) return false;
  // Erase the node and its subtree: keys "path" and "path/..." are contiguous in the map.
  auto end = it;
  while (end != tree.end() && is_prefix(path, end->first)) ++end;
  tree.erase(it, end);
  hv_.changed(t, path, true);
  return true;
}

std::optional<std::vector<std::string>> SimXenStore::directory(XsTxn t, const std::string& path) {
  if (!valid_path(path)) return std::nullopt;
  auto& tree = hv_.tree_for(t, self_);
  auto it = tree.find(path);
  if (it == tree.end() || !hv_.can(self_, it->second, false)) return std::nullopt;
  std::vector<std::string> out;
  const std::string prefix = path == "/" ? "/" : path + "/";
  for (++it; it != tree.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    const std::string rest = it->first.substr(prefix.size());
    if (rest.find('/') == std::string::npos) out.push_back(rest);
  }
  return out;
}

std::optional<std::vector<XsPerm>> SimXenStore::get_permissions(XsTxn t, const std::string& path) {
  if (!valid_path(path)) return std::nullopt;
  auto& tree = hv_.tree_for(t, self_);
  auto it = tree.find(path);
  if (it == tree.end() || !hv_.can(self_, it->second, false)) return std::nullopt;
  return it->second.perms;
}

bool SimXenStore::set_permissions(XsTxn t, const std::string& path, std::span<const XsPerm> perms) {
  if (!valid_path(path) || perms.empty()) return false;
  auto& tree = hv_.tree_for(t, self_);
  auto it = tree.find(path);
  if (it == tree.end()) return false;
  const bool owner = self_.value() == 0 || it->second.perms.at(0).dom == self_;
  if (!owner) return false;
  it->second.perms.assign(perms.begin(), perms.end());
  hv_.changed(t, path);
  return true;
}

std::optional<XsTxn> SimXenStore::transaction_start() {
  const uint32_t id = hv_.next_txn_++;
  hv_.txns_.emplace(id, SimHypervisor::Txn{self_, hv_.generation_, hv_.tree_, {}});
  return XsTxn{id};
}

XsTxnEnd SimXenStore::transaction_end(XsTxn t, bool commit) {
  auto it = hv_.txns_.find(t.id);
  if (it == hv_.txns_.end() || it->second.dom != self_) return XsTxnEnd::failed;
  SimHypervisor::Txn txn = std::move(it->second);
  hv_.txns_.erase(it);
  if (!commit) return XsTxnEnd::committed;
  if (txn.start_generation != hv_.generation_) return XsTxnEnd::retry;
  hv_.tree_ = std::move(txn.tree);
  ++hv_.generation_;
  for (const auto& [p, removed] : txn.changed) hv_.fire(p, removed);
  return XsTxnEnd::committed;
}

bool SimXenStore::watch(const std::string& path, const std::string& token) {
  if (!valid_path(path)) return false;
  for (const auto& w : hv_.watches_) {
    if (w.conn == this && w.path == path && w.token == token) return false;  // EEXIST
  }
  hv_.watches_.push_back({this, path, token});
  deliver(path, token);
  return true;
}

bool SimXenStore::unwatch(const std::string& path, const std::string& token) {
  const auto n = std::erase_if(hv_.watches_, [&](const auto& w) {
    return w.conn == this && w.path == path && w.token == token;
  });
  // Events already queued for this watch are dropped, as xenstored's unwatch does.
  std::erase_if(events_, [&](const auto& e) { return e.token == token && is_prefix(path, e.path); });
  return n > 0;
}

void SimXenStore::deliver(const std::string& path, const std::string& token) {
  events_.push_back({path, token});
  signal_fd(efd_);
}

std::optional<XsWatchEvent> SimXenStore::next_watch_event() {
  if (events_.empty()) {
    drain_fd(efd_);
    return std::nullopt;
  }
  XsWatchEvent e = std::move(events_.front());
  events_.pop_front();
  return e;
}

// ---------------------------------------------------------------------------------------------
// Grant tables

GrantRef SimHypervisor::grant_access(DomId granter, DomId grantee, Page* page, bool readonly) {
  const GrantRef ref{next_ref_++};
  grants_[granter.value()][ref.value()] = Grant{grantee, page, readonly, 0};
  return ref;
}

void SimHypervisor::end_access(DomId granter, GrantRef ref) {
  auto it = grants_.find(granter.value());
  if (it != grants_.end()) it->second.erase(ref.value());
}

bool SimHypervisor::try_end_access(DomId granter, GrantRef ref) {
  auto it = grants_.find(granter.value());
  if (it == grants_.end()) return true;
  auto g = it->second.find(ref.value());
  if (g == it->second.end()) return true;
  if (g->second.maps > 0) return false;
  it->second.erase(g);
  return true;
}

std::size_t SimHypervisor::grants_of(DomId granter) const {
  auto it = grants_.find(granter.value());
  return it == grants_.end() ? 0 : it->second.size();
}

std::size_t SimHypervisor::deferred_pages() const {
  std::size_t n = 0;
  for (const auto& d : deferred_) n += d.count;
  return n;
}

void SimHypervisor::reap_deferred() {
  for (auto it = deferred_.begin(); it != deferred_.end();) {
    std::erase_if(it->refs, [&](GrantRef r) { return try_end_access(it->granter, r); });
    it = it->refs.empty() ? deferred_.erase(it) : it + 1;
  }
}

// ---------------------------------------------------------------------------------------------
// Shared pages (gntshr)

class SimSharedPages final : public SharedPages {
 public:
  SimSharedPages(SimGrantShare& gs, DomId dom, std::size_t count, bool writable)
      : gs_(gs), pages_(new Page[count]), count_(count) {
    refs_.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
      refs_.push_back(gs.hv_.grant_access(gs.self_, dom, &pages_[i], !writable));
    }
    gs_.live_pages_ += count;
  }
  ~SimSharedPages() override {
    gs_.live_pages_ -= count_;
    SimHypervisor& hv = gs_.hv_;
    std::erase_if(refs_, [&](GrantRef r) { return hv.try_end_access(gs_.self_, r); });
    if (!refs_.empty()) hv.deferred_.push_back({gs_.self_, std::move(refs_), std::move(pages_), count_});
  }
  std::size_t count() const override { return count_; }
  std::byte* page(std::size_t i) const override { return pages_[i].bytes; }
  GrantRef ref(std::size_t i) const override { return refs_[i]; }

 private:
  SimGrantShare& gs_;
  std::unique_ptr<Page[]> pages_;
  std::size_t count_;
  std::vector<GrantRef> refs_;
};

std::unique_ptr<SharedPages> SimGrantShare::share(DomId dom, std::size_t count, bool writable) {
  if (fail_shares || count == 0) return nullptr;
  return std::make_unique<SimSharedPages>(*this, dom, count, writable);
}

std::size_t SimHypervisor::mapped_grants_of(DomId granter) const {
  std::size_t n = 0;
  auto it = grants_.find(granter.value());
  if (it == grants_.end()) return 0;
  for (const auto& [ref, g] : it->second) n += g.maps;
  return n;
}

class SimMapping final : public GrantMapping {
 public:
  SimMapping(SimGrantTable& gt, DomId dom, GrantRef ref, std::byte* data)
      : gt_(gt), dom_(dom), ref_(ref), data_(data) {
    ++gt_.live_mappings_;
  }
  ~SimMapping() override {
    --gt_.live_mappings_;
    auto& grants = gt_.hv_.grants_;
    auto it = grants.find(dom_.value());
    if (it == grants.end()) return;
    auto g = it->second.find(ref_.value());
    if (g != it->second.end() && g->second.maps > 0) --g->second.maps;
    if (!gt_.hv_.deferred_.empty()) gt_.hv_.reap_deferred();
  }
  std::byte* data() const override { return data_; }

 private:
  SimGrantTable& gt_;
  DomId dom_;
  GrantRef ref_;
  std::byte* data_;
};

std::unique_ptr<GrantMapping> SimGrantTable::map(DomId dom, GrantRef ref) {
  auto it = hv_.grants_.find(dom.value());
  if (it == hv_.grants_.end()) return nullptr;
  auto g = it->second.find(ref.value());
  if (g == it->second.end() || g->second.grantee != self_ || g->second.readonly) return nullptr;
  ++g->second.maps;
  return std::make_unique<SimMapping>(*this, dom, ref, g->second.page->bytes);
}

bool SimGrantTable::copy(std::span<GrantCopy> ops) {
  ++copy_calls_;
  for (auto& op : ops) {
    auto it = hv_.grants_.find(op.dom.value());
    if (it == hv_.grants_.end()) {
      op.status = GntStatus::bad_domain;
      continue;
    }
    auto g = it->second.find(op.ref.value());
    if (g == it->second.end()) {
      op.status = GntStatus::bad_gntref;
    } else if (g->second.grantee != self_) {
      op.status = GntStatus::permission_denied;
    } else if (uint32_t(op.offset) + op.len > kPageSize) {
      op.status = GntStatus::bad_copy_arg;
    } else if (op.dir == GrantCopy::Dir::to_guest && g->second.readonly) {
      op.status = GntStatus::permission_denied;
    } else {
      std::byte* guest = g->second.page->bytes + op.offset;
      if (op.dir == GrantCopy::Dir::from_guest) {
        std::memcpy(op.local, guest, op.len);
      } else {
        std::memcpy(guest, op.local, op.len);
      }
      op.status = GntStatus::okay;
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Event channels

SimEventChannels::SimEventChannels(SimHypervisor& hv, DomId self)
    : hv_(hv), self_(self), efd_(make_eventfd()) {}

SimEventChannels::~SimEventChannels() {
  const auto ports = ports_;
  for (uint32_t p : ports) unbind(EvtchnPort{p});
  ::close(efd_);
}

std::optional<EvtchnPort> SimEventChannels::alloc_unbound(DomId remote) {
  const uint32_t p = ++hv_.next_port_[self_.value()];
  hv_.ports_[SimHypervisor::port_key(self_, p)] = {self_, this, remote, 0, false, false};
  ports_.insert(p);
  return EvtchnPort{p};
}

std::optional<EvtchnPort> SimEventChannels::bind_interdomain(DomId remote, EvtchnPort remote_port) {
  auto it = hv_.ports_.find(SimHypervisor::port_key(remote, remote_port.value()));
  if (it == hv_.ports_.end()) return std::nullopt;
  auto& rp = it->second;
  if (rp.handle == nullptr || rp.remote_dom != self_ || rp.remote_port != 0) return std::nullopt;
  const uint32_t lp = ++hv_.next_port_[self_.value()];
  hv_.ports_[SimHypervisor::port_key(self_, lp)] = {self_, this, remote, remote_port.value(), false,
                                                    false};
  rp.remote_port = lp;
  ports_.insert(lp);
  return EvtchnPort{lp};
}

bool SimEventChannels::unbind(EvtchnPort local) {
  if (!ports_.erase(local.value())) return false;
  auto it = hv_.ports_.find(SimHypervisor::port_key(self_, local.value()));
  if (it != hv_.ports_.end()) {
    auto& p = it->second;
    if (p.remote_port != 0) {
      auto r = hv_.ports_.find(SimHypervisor::port_key(p.remote_dom, p.remote_port));
      if (r != hv_.ports_.end()) r->second.remote_port = 0;  // other end becomes unbound
    }
    hv_.ports_.erase(it);
  }
  std::erase(pending_, local.value());
  return true;
}

bool SimEventChannels::notify(EvtchnPort local) {
  auto it = hv_.ports_.find(SimHypervisor::port_key(self_, local.value()));
  if (it == hv_.ports_.end() || it->second.handle != this || it->second.remote_port == 0)
    return false;
  auto r = hv_.ports_.find(SimHypervisor::port_key(it->second.remote_dom, it->second.remote_port));
  if (r != hv_.ports_.end() && r->second.handle != nullptr) {
    r->second.handle->raise(EvtchnPort{it->second.remote_port});
  }
  return true;
}

void SimEventChannels::raise(EvtchnPort local) {
  auto& p = hv_.ports_.at(SimHypervisor::port_key(self_, local.value()));
  if (p.masked) {
    p.pending = true;  // delivered on unmask
    return;
  }
  p.masked = true;  // like the Linux evtchn driver: masked until the reader unmasks
  pending_.push_back(local.value());
  signal_fd(efd_);
}

bool SimEventChannels::unmask(EvtchnPort local) {
  auto it = hv_.ports_.find(SimHypervisor::port_key(self_, local.value()));
  if (it == hv_.ports_.end() || it->second.handle != this) return false;
  auto& p = it->second;
  p.masked = false;
  if (p.pending) {
    p.pending = false;
    raise(local);
  }
  return true;
}

std::optional<EvtchnPort> SimEventChannels::pending() {
  if (pending_.empty()) {
    drain_fd(efd_);
    return std::nullopt;
  }
  const uint32_t p = pending_.front();
  pending_.erase(pending_.begin());
  return EvtchnPort{p};
}

// ---------------------------------------------------------------------------------------------

void SimHypervisor::destroy_domain(DomId dom) {
  grants_.erase(dom.value());
  std::erase_if(deferred_, [&](const Deferred& d) { return d.granter == dom; });
  next_port_.erase(dom.value());  // a domain's port numbers go with it
  for (auto it = ports_.begin(); it != ports_.end();) {
    if (it->second.owner == dom) {
      auto& p = it->second;
      if (p.remote_port != 0) {
        auto r = ports_.find(port_key(p.remote_dom, p.remote_port));
        if (r != ports_.end()) r->second.remote_port = 0;
      }
      if (p.handle) p.handle->ports_.erase(uint32_t(it->first & 0xFFFFF));
      it = ports_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace xfw::xen::sim
