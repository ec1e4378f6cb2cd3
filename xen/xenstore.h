// xen/xenstore.h — the narrow XenStore interface netback and the daemon use.
//
// One object is one connection to XenStore, acting as one domain. Implementations: RealXenStore
// (libxenstore) and sim::SimXenStore (in-memory tree, see xen/sim/). All calls are non-blocking
// except as XenStore itself is; watch events are delivered through watch_fd() becoming readable
// and then draining next_watch_event() until it returns nullopt.
//
// Paths are absolute ("/local/domain/0/backend/vif/5/0/state"). Values are bytes, not
// NUL-terminated strings; values written by guests are hostile and must go through xen/parse.h.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "xen/types.h"

namespace xfw::xen {

struct XsTxn {
  uint32_t id = 0;  // 0 = outside any transaction
};
inline constexpr XsTxn kNoTxn{};

enum class XsPermKind : uint8_t { none, read, write, both };
// XenStore permission list semantics: entry 0 names the owner and the access of every domain
// not listed; later entries grant access to specific domains.
struct XsPerm {
  DomId dom;
  XsPermKind kind;
  friend bool operator==(const XsPerm&, const XsPerm&) = default;
};

struct XsWatchEvent {
  std::string path;
  std::string token;
};

enum class XsTxnEnd : uint8_t { committed, retry, failed };

class XenStore {
 public:
  virtual ~XenStore() = default;

  [[nodiscard]] virtual std::optional<std::string> read(XsTxn t, const std::string& path) = 0;
  [[nodiscard]] virtual bool write(XsTxn t, const std::string& path, std::string_view value) = 0;
  [[nodiscard]] virtual bool mkdir(XsTxn t, const std::string& path) = 0;
  // Removes a node and everything under it. Removing a missing node succeeds.
  [[nodiscard]] virtual bool rm(XsTxn t, const std::string& path) = 0;
  [[nodiscard]] virtual std::optional<std::vector<std::string>> directory(
      XsTxn t, const std::string& path) = 0;
  [[nodiscard]] virtual std::optional<std::vector<XsPerm>> get_permissions(
      XsTxn t, const std::string& path) = 0;
  [[nodiscard]] virtual bool set_permissions(XsTxn t, const std::string& path,
                                             std::span<const XsPerm> perms) = 0;

  [[nodiscard]] virtual std::optional<XsTxn> transaction_start() = 0;
  // commit=false aborts. `retry` means a conflicting change happened: redo the transaction.
  [[nodiscard]] virtual XsTxnEnd transaction_end(XsTxn t, bool commit) = 0;

  // A watch fires once when registered and then whenever `path` or anything below it changes.
  [[nodiscard]] virtual bool watch(const std::string& path, const std::string& token) = 0;
  virtual bool unwatch(const std::string& path, const std::string& token) = 0;
  [[nodiscard]] virtual int watch_fd() const = 0;
  [[nodiscard]] virtual std::optional<XsWatchEvent> next_watch_event() = 0;

  // Which domain this connection acts as (from the store itself: /local/domain/<id> is "home").
  [[nodiscard]] virtual std::optional<DomId> own_domid() = 0;
};

}  // namespace xfw::xen
