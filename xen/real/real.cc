#include "xen/real/real.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
extern "C" {  // Xen 4.17's library headers have no C++ guards
#include <xen/grant_table.h>
#include <xenevtchn.h>
#include <xengnttab.h>
#include <xenstore.h>
}

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "xen/parse.h"

namespace xfw::xen::real {
namespace {

std::string errstr() { return std::strerror(errno); }

// libxenstore returns malloc'd memory; take ownership.
struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
template <class T>
using CPtr = std::unique_ptr<T, FreeDeleter>;

xs_transaction_t tx(XsTxn t) { return t.id; }

class RealXenStore final : public XenStore {
 public:
  explicit RealXenStore(xs_handle* h) : h_(h) {}
  ~RealXenStore() override { xs_close(h_); }

  std::optional<std::string> read(XsTxn t, const std::string& path) override {
    unsigned int len = 0;
    CPtr<char> v(static_cast<char*>(xs_read(h_, tx(t), path.c_str(), &len)));
    if (!v) return std::nullopt;
    return std::string(v.get(), len);
  }
  bool write(XsTxn t, const std::string& path, std::string_view value) override {
    return xs_write(h_, tx(t), path.c_str(), value.data(), unsigned(value.size()));
  }
  bool mkdir(XsTxn t, const std::string& path) override {
    return xs_mkdir(h_, tx(t), path.c_str());
  }
  bool rm(XsTxn t, const std::string& path) override {
    return xs_rm(h_, tx(t), path.c_str()) || errno == ENOENT;
  }
  std::optional<std::vector<std::string>> directory(XsTxn t, const std::string& path) override {
    unsigned int n = 0;
    CPtr<char*> d(xs_directory(h_, tx(t), path.c_str(), &n));
    if (!d) return std::nullopt;
    return std::vector<std::string>(d.get(), d.get() + n);
  }
  std::optional<std::vector<XsPerm>> get_permissions(XsTxn t, const std::string& path) override {
    unsigned int n = 0;
    CPtr<xs_permissions> p(xs_get_permissions(h_, tx(t), path.c_str(), &n));
    if (!p) return std::nullopt;
    std::vector<XsPerm> out;
    for (unsigned i = 0; i < n; ++i) {
      const auto bits = p.get()[i].perms & (XS_PERM_READ | XS_PERM_WRITE);
      const XsPermKind k = bits == (XS_PERM_READ | XS_PERM_WRITE) ? XsPermKind::both
                           : bits == XS_PERM_READ                 ? XsPermKind::read
                           : bits == XS_PERM_WRITE                ? XsPermKind::write
                                                                  : XsPermKind::none;
      out.push_back({DomId{uint16_t(p.get()[i].id)}, k});
    }
    return out;
  }
  bool set_permissions(XsTxn t, const std::string& path, std::span<const XsPerm> perms) override {
    std::vector<xs_permissions> p;
    for (const auto& x : perms) {
      const unsigned bits = x.kind == XsPermKind::both    ? (XS_PERM_READ | XS_PERM_WRITE)
                            : x.kind == XsPermKind::read  ? XS_PERM_READ
                            : x.kind == XsPermKind::write ? XS_PERM_WRITE
                                                          : XS_PERM_NONE;
      xs_permissions xp{};
      xp.id = x.dom.value();
      xp.perms = static_cast<decltype(xp.perms)>(bits);
      p.push_back(xp);
    }
    return xs_set_permissions(h_, tx(t), path.c_str(), p.data(), unsigned(p.size()));
  }
  std::optional<XsTxn> transaction_start() override {
    const xs_transaction_t t = xs_transaction_start(h_);
    if (t == XBT_NULL) return std::nullopt;
    return XsTxn{t};
  }
  XsTxnEnd transaction_end(XsTxn t, bool commit) override {
    if (xs_transaction_end(h_, tx(t), !commit)) return XsTxnEnd::committed;
    return errno == EAGAIN ? XsTxnEnd::retry : XsTxnEnd::failed;
  }
  bool watch(const std::string& path, const std::string& token) override {
    return xs_watch(h_, path.c_str(), token.c_str());
  }
  bool unwatch(const std::string& path, const std::string& token) override {
    return xs_unwatch(h_, path.c_str(), token.c_str());
  }
  int watch_fd() const override { return xs_fileno(h_); }
  std::optional<XsWatchEvent> next_watch_event() override {
    CPtr<char*> v(xs_check_watch(h_));
    if (!v) return std::nullopt;
    return XsWatchEvent{v.get()[XS_WATCH_PATH], v.get()[XS_WATCH_TOKEN]};
  }
  std::optional<DomId> own_domid() override {
    // Relative paths resolve against our home, /local/domain/<self>.
    const auto v = read(kNoTxn, "domid");
    if (!v) return std::nullopt;
    return parse_domid(*v);
  }

 private:
  xs_handle* h_;
};

class RealMapping final : public GrantMapping {
 public:
  RealMapping(xengnttab_handle* g, void* addr) : g_(g), addr_(addr) {}
  ~RealMapping() override { xengnttab_unmap(g_, addr_, 1); }
  std::byte* data() const override { return static_cast<std::byte*>(addr_); }

 private:
  xengnttab_handle* g_;
  void* addr_;
};

class RealGrantTable final : public GrantTable {
 public:
  explicit RealGrantTable(xengnttab_handle* g) : g_(g) {}
  ~RealGrantTable() override { xengnttab_close(g_); }

  std::unique_ptr<GrantMapping> map(DomId dom, GrantRef ref) override {
    void* p = xengnttab_map_grant_ref(g_, dom.value(), ref.value(), PROT_READ | PROT_WRITE);
    if (p == nullptr) return nullptr;
    return std::make_unique<RealMapping>(g_, p);
  }

  bool copy(std::span<GrantCopy> ops) override {
    if (segs_.size() < ops.size()) segs_.resize(ops.size());  // grows to the largest batch once
    for (std::size_t i = 0; i < ops.size(); ++i) {
      const GrantCopy& op = ops[i];
      xengnttab_grant_copy_segment_t& s = segs_[i];
      s = {};
      const decltype(s.source) foreign{.foreign = {op.ref.value(), op.offset, op.dom.value()}};
      if (op.dir == GrantCopy::Dir::from_guest) {
        s.source = foreign;
        s.dest.virt = op.local;
        s.flags = GNTCOPY_source_gref;
      } else {
        s.source.virt = op.local;
        s.dest = foreign;
        s.flags = GNTCOPY_dest_gref;
      }
      s.len = op.len;
    }
    if (xengnttab_grant_copy(g_, uint32_t(ops.size()), segs_.data()) != 0) {
      for (auto& op : ops) op.status = GntStatus::general_error;
      return false;
    }
    for (std::size_t i = 0; i < ops.size(); ++i) ops[i].status = GntStatus(segs_[i].status);
    return true;
  }

 private:
  xengnttab_handle* g_;
  std::vector<xengnttab_grant_copy_segment_t> segs_;
};

class RealEventChannels final : public EventChannels {
 public:
  explicit RealEventChannels(xenevtchn_handle* e) : e_(e) {}
  ~RealEventChannels() override { xenevtchn_close(e_); }

  std::optional<EvtchnPort> bind_interdomain(DomId remote, EvtchnPort remote_port) override {
    const xenevtchn_port_or_error_t p =
        xenevtchn_bind_interdomain(e_, remote.value(), remote_port.value());
    if (p < 0) return std::nullopt;
    return EvtchnPort{uint32_t(p)};
  }
  std::optional<EvtchnPort> alloc_unbound(DomId remote) override {
    const xenevtchn_port_or_error_t p = xenevtchn_bind_unbound_port(e_, remote.value());
    if (p < 0) return std::nullopt;
    return EvtchnPort{uint32_t(p)};
  }
  bool unbind(EvtchnPort local) override { return xenevtchn_unbind(e_, local.value()) == 0; }
  bool notify(EvtchnPort local) override { return xenevtchn_notify(e_, local.value()) == 0; }
  bool unmask(EvtchnPort local) override { return xenevtchn_unmask(e_, local.value()) == 0; }
  int fd() const override { return xenevtchn_fd(e_); }
  // The device hands out every port that fired in one read() (an array of them), where
  // xenevtchn_pending() reads one: one system call per event instead of two (the second finding
  // none). A read that filled less than the buffer emptied the queue, so once its ports are
  // handed out the pass ends without another; a port that fires after it makes the fd readable
  // again.
  std::optional<EvtchnPort> pending() override {
    if (next_ == got_) {
      if (got_ != 0 && got_ < ports_.size()) {  // the last read emptied the queue
        next_ = got_ = 0;
        return std::nullopt;
      }
      const ssize_t n = ::read(xenevtchn_fd(e_), ports_.data(), sizeof ports_);  // fd is non-blocking
      if (n < ssize_t(sizeof(evtchn_port_t))) return std::nullopt;
      next_ = 0;
      got_ = std::size_t(n) / sizeof(evtchn_port_t);
    }
    return EvtchnPort{ports_[next_++]};
  }

 private:
  xenevtchn_handle* e_;
  std::array<evtchn_port_t, 64> ports_{};
  std::size_t next_ = 0, got_ = 0;  // ports_[next_, got_) are still to be handed out
};

// Pages shared through /dev/xen/gntalloc. The kernel allocates them zeroed (__GFP_ZERO) and,
// when they are unmapped, ends each grant or, while the backend still maps it, keeps the page
// on its deferred list until it can (gnttab_end_foreign_access since the XSA-396 fixes): a page
// the backend can still reach is never handed out again.
class RealSharedPages final : public SharedPages {
 public:
  RealSharedPages(xengntshr_handle* h, void* addr, std::vector<uint32_t> refs)
      : h_(h), addr_(static_cast<std::byte*>(addr)), refs_(std::move(refs)) {}
  ~RealSharedPages() override { xengntshr_unshare(h_, addr_, uint32_t(refs_.size())); }
  std::size_t count() const override { return refs_.size(); }
  std::byte* page(std::size_t i) const override { return addr_ + i * kPageSize; }
  GrantRef ref(std::size_t i) const override { return GrantRef{refs_[i]}; }

 private:
  xengntshr_handle* h_;
  std::byte* addr_;
  std::vector<uint32_t> refs_;
};

class RealGrantShare final : public GrantShare {
 public:
  explicit RealGrantShare(xengntshr_handle* h) : h_(h) {}
  ~RealGrantShare() override { xengntshr_close(h_); }
  std::unique_ptr<SharedPages> share(DomId dom, std::size_t count, bool writable) override {
    std::vector<uint32_t> refs(count);
    void* p = xengntshr_share_pages(h_, dom.value(), int(count), refs.data(), writable ? 1 : 0);
    if (p == nullptr) return nullptr;
    return std::make_unique<RealSharedPages>(h_, p, std::move(refs));
  }

 private:
  xengntshr_handle* h_;
};

std::unique_ptr<XenStore> open_xenstore(std::string* err) {
  xs_handle* xs = xs_open(0);
  if (xs == nullptr) {
    *err = "cannot open XenStore (/dev/xen/xenbus, libxenstore): " + errstr();
    return nullptr;
  }
  return std::make_unique<RealXenStore>(xs);
}

std::unique_ptr<EventChannels> open_evtchn(std::string* err) {
  xenevtchn_handle* e = xenevtchn_open(nullptr, 0);
  if (e == nullptr) {
    *err = "cannot open /dev/xen/evtchn (libxenevtchn): " + errstr();
    return nullptr;
  }
  auto h = std::make_unique<RealEventChannels>(e);
  const int fd = xenevtchn_fd(e);
  if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
    *err = "cannot make /dev/xen/evtchn non-blocking: " + errstr();
    return nullptr;
  }
  return h;
}

}  // namespace

std::optional<FrontendHandles> open_frontend(std::string* err) {
  FrontendHandles h;
  h.xs = open_xenstore(err);
  if (!h.xs) return std::nullopt;
  xengntshr_handle* g = xengntshr_open(nullptr, 0);
  if (g == nullptr) {
    *err = "cannot open /dev/xen/gntalloc (libxengnttab's gntshr): " + errstr();
    return std::nullopt;
  }
  h.share = std::make_unique<RealGrantShare>(g);
  h.evt = open_evtchn(err);
  if (!h.evt) return std::nullopt;
  return h;
}

std::optional<Handles> open(std::string* err) {
  Handles h;
  h.xs = open_xenstore(err);
  if (!h.xs) return std::nullopt;
  xengnttab_handle* g = xengnttab_open(nullptr, 0);
  if (g == nullptr) {
    *err = "cannot open /dev/xen/gntdev (libxengnttab): " + errstr();
    return std::nullopt;
  }
  h.gnt = std::make_unique<RealGrantTable>(g);
  h.evt = open_evtchn(err);
  if (!h.evt) return std::nullopt;
  return h;
}

}  // namespace xfw::xen::real
