// xen/sim/hypervisor.h — a simulated Xen hypervisor for tests, benchmarks and `xfwd --xen=sim`.
//
// It implements the same narrow interfaces as the real hypervisor (xen/xenstore.h, grant.h,
// evtchn.h) over ordinary memory, with Xen's semantics where netback can observe them:
//  * XenStore: one tree, per-domain connections, permissions (owner + default + per-domain
//    entries; dom0 is privileged), watches (fire once on registration, then on any change at or
//    below the watched path, including removal), transactions (optimistic: a commit after any
//    other change in the store returns `retry`, as xenstored may).
//  * Grant tables: a guest grants one of its pages to one domain, read-only or read-write; the
//    grantee maps it (same memory) or grant-copies with Xen's checks and GNTST_* statuses.
//  * Shared pages (gntshr): a frontend's pages granted to its backend; ending a grant the
//    backend still maps fails, as in Xen, and the page is kept until the mapping goes.
//  * Event channels: a guest allocates an unbound port for a remote domain, the backend binds to
//    it; notify marks the other end pending and signals that handle's eventfd.
// Single-threaded: everything runs on the caller's thread.
#pragma once

#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "xen/evtchn.h"
#include "xen/gntshr.h"
#include "xen/grant.h"
#include "xen/xenstore.h"

namespace xfw::xen::sim {

class SimHypervisor;

// A page-aligned, zeroed 4 KiB page owned by a simulated guest.
struct Page {
  alignas(kPageSize) std::byte bytes[kPageSize]{};
};

class SimXenStore final : public XenStore {
 public:
  SimXenStore(SimHypervisor& hv, DomId self);
  ~SimXenStore() override;
  std::optional<std::string> read(XsTxn t, const std::string& path) override;
  bool write(XsTxn t, const std::string& path, std::string_view value) override;
  bool mkdir(XsTxn t, const std::string& path) override;
  bool rm(XsTxn t, const std::string& path) override;
  std::optional<std::vector<std::string>> directory(XsTxn t, const std::string& path) override;
  std::optional<std::vector<XsPerm>> get_permissions(XsTxn t, const std::string& path) override;
  bool set_permissions(XsTxn t, const std::string& path, std::span<const XsPerm> perms) override;
  std::optional<XsTxn> transaction_start() override;
  XsTxnEnd transaction_end(XsTxn t, bool commit) override;
  bool watch(const std::string& path, const std::string& token) override;
  bool unwatch(const std::string& path, const std::string& token) override;
  int watch_fd() const override { return efd_; }
  std::optional<XsWatchEvent> next_watch_event() override;
  std::optional<DomId> own_domid() override { return self_; }

  [[nodiscard]] DomId domid() const { return self_; }
  [[nodiscard]] std::size_t pending_watch_events() const { return events_.size(); }

 private:
  friend class SimHypervisor;
  void deliver(const std::string& path, const std::string& token);

  SimHypervisor& hv_;
  DomId self_;
  int efd_ = -1;
  std::deque<XsWatchEvent> events_;
};

class SimGrantTable final : public GrantTable {
 public:
  SimGrantTable(SimHypervisor& hv, DomId self) : hv_(hv), self_(self) {}
  std::unique_ptr<GrantMapping> map(DomId dom, GrantRef ref) override;
  bool copy(std::span<GrantCopy> ops) override;
  [[nodiscard]] std::size_t live_mappings() const { return live_mappings_; }
  [[nodiscard]] std::size_t copy_calls() const { return copy_calls_; }  // GNTTABOP_copy hypercalls

 private:
  friend class SimMapping;
  SimHypervisor& hv_;
  DomId self_;
  std::size_t live_mappings_ = 0, copy_calls_ = 0;
};

class SimEventChannels final : public EventChannels {
 public:
  SimEventChannels(SimHypervisor& hv, DomId self);
  ~SimEventChannels() override;
  std::optional<EvtchnPort> bind_interdomain(DomId remote, EvtchnPort remote_port) override;
  bool unbind(EvtchnPort local) override;
  bool notify(EvtchnPort local) override;
  bool unmask(EvtchnPort local) override;
  int fd() const override { return efd_; }
  std::optional<EvtchnPort> pending() override;

  std::optional<EvtchnPort> alloc_unbound(DomId remote) override;
  [[nodiscard]] bool has_pending() const { return !pending_.empty(); }
  [[nodiscard]] std::size_t bound_ports() const { return ports_.size(); }

 private:
  friend class SimHypervisor;
  void raise(EvtchnPort local);

  SimHypervisor& hv_;
  DomId self_;
  int efd_ = -1;
  std::set<uint32_t> ports_;  // ports this handle owns
  // Ports waiting to be read. A port is queued at most once (it stays masked until unmask),
  // so this stays small and, once grown, never allocates again.
  std::vector<uint32_t> pending_;
};

// A domain's gntshr handle: pages it shares with another domain (xen/gntshr.h).
class SimGrantShare final : public GrantShare {
 public:
  SimGrantShare(SimHypervisor& hv, DomId self) : hv_(hv), self_(self) {}
  std::unique_ptr<SharedPages> share(DomId dom, std::size_t count, bool writable) override;
  [[nodiscard]] std::size_t live_pages() const { return live_pages_; }
  // Fails every share() from now on (tests: a domain out of grant entries).
  bool fail_shares = false;

 private:
  friend class SimSharedPages;
  SimHypervisor& hv_;
  DomId self_;
  std::size_t live_pages_ = 0;
};

class SimHypervisor {
 public:
  SimHypervisor() = default;
  SimHypervisor(const SimHypervisor&) = delete;
  SimHypervisor& operator=(const SimHypervisor&) = delete;

  // --- guest-side grant API (gnttab_grant_foreign_access / end_foreign_access) ---
  GrantRef grant_access(DomId granter, DomId grantee, Page* page, bool readonly);
  void end_access(DomId granter, GrantRef ref);
  // Ends a grant unless it is mapped (gnttab_end_foreign_access_ref fails then): false.
  bool try_end_access(DomId granter, GrantRef ref);
  // How many mappings of this domain's grants are live (teardown tests: must reach 0).
  [[nodiscard]] std::size_t mapped_grants_of(DomId granter) const;
  // How many grants this domain has (leak checks).
  [[nodiscard]] std::size_t grants_of(DomId granter) const;
  // Pages a frontend let go of while the backend still mapped them: kept, never reused, and
  // freed once the last mapping goes (NETFRONT-HARDENING.md item 9).
  [[nodiscard]] std::size_t deferred_pages() const;

  // --- domain lifecycle: destroy closes its ports and revokes its grants ---
  void destroy_domain(DomId dom);

  // Counts every XenStore node (for leak checks).
  [[nodiscard]] std::size_t xenstore_nodes() const { return tree_.size(); }

 private:
  friend class SimXenStore;
  friend class SimGrantTable;
  friend class SimMapping;
  friend class SimEventChannels;
  friend class SimSharedPages;

  struct Node {
    std::string value;
    std::vector<XsPerm> perms;
  };
  struct Grant {
    DomId grantee;
    Page* page;
    bool readonly;
    uint32_t maps = 0;
  };
  struct Port {
    DomId owner;
    SimEventChannels* handle;  // nullptr after the owner closed it
    DomId remote_dom;
    uint32_t remote_port = 0;  // 0 = unbound
    bool masked = false;
    bool pending = false;
  };
  struct Watch {
    SimXenStore* conn;
    std::string path;
    std::string token;
  };
  struct Txn {
    DomId dom;
    uint64_t start_generation;
    std::map<std::string, Node> tree;  // private copy; committed wholesale
    std::vector<std::pair<std::string, bool>> changed;  // path, removed
  };

  // XenStore internals
  bool can(DomId who, const Node& n, bool write) const;
  std::map<std::string, Node>& tree_for(XsTxn t, DomId who);
  void changed(XsTxn t, const std::string& path, bool removed = false);
  void fire(const std::string& path, bool removed);
  bool ensure_parents(std::map<std::string, Node>& tree, const std::string& path, DomId who,
                      XsTxn t);

  std::map<std::string, Node> tree_{{"/", Node{"", {{DomId{0}, XsPermKind::read}}}}};
  uint64_t generation_ = 0;
  uint32_t next_txn_ = 1;
  std::unordered_map<uint32_t, Txn> txns_;
  std::vector<Watch> watches_;

  // grant tables: per granter domain, ref -> grant
  std::unordered_map<uint16_t, std::unordered_map<uint32_t, Grant>> grants_;
  uint32_t next_ref_ = 8;  // small refs are reserved by real guests too
  // Shared pages whose grants could not all be ended: granter, refs still granted, the memory.
  struct Deferred {
    DomId granter;
    std::vector<GrantRef> refs;
    std::unique_ptr<Page[]> pages;
    std::size_t count = 0;
  };
  std::vector<Deferred> deferred_;
  void reap_deferred();  // after an unmap: end what can be ended, free what is no longer granted

  // event channels: global port namespace per domain (domid << 20 | port)
  std::unordered_map<uint64_t, Port> ports_;
  std::unordered_map<uint16_t, uint32_t> next_port_;
  static uint64_t port_key(DomId d, uint32_t p) { return uint64_t(d.value()) << 20 | p; }
};

}  // namespace xfw::xen::sim
