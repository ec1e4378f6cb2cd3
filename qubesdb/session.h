// qubesdb/session.h — one connection to the firewall VM's QubesDB daemon, as a state machine
// without I/O: what xfwd sends, what it makes of what it receives.
//
//   Session s;
//   send(s.start());                      // the watches, then the full read
//   send(s.receive(bytes));               // each time bytes arrive; it may ask for more reads
//   if (!s.error().empty()) disconnect;   // the daemon broke the protocol
//   apply(s.take_changes());
//
// It follows what Qubes' firewall agent follows: the rules under /qubes-firewall/ (a client's
// directory is read again, whole, when dom0 writes the empty "update complete" key
// /qubes-firewall/<ip>), the client addresses /connected-ips and /connected-ips6, and the
// firewall VM's own network (kKeys). Requests are answered in order; watch events may come
// between any two messages. A watch for a path already waiting for its answer asks nothing
// new (the answer is read after the change), so a flood of events cannot grow the queue past
// the number of distinct paths, and that is bounded too (kMaxPending).
#pragma once

#include <array>
#include <deque>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "qubesdb/firewall_dir.h"
#include "qubesdb/protocol.h"

namespace xfw::qubesdb {

// The firewall VM's own values it follows (Qubes' "vm-interface" documentation).
inline constexpr std::array<std::string_view, 14> kKeys = {
    "/qubes-ip",          "/qubes-gateway",          "/qubes-primary-dns",         "/qubes-secondary-dns",
    "/qubes-ip6",         "/qubes-gateway6",         "/qubes-netvm-gateway",       "/qubes-netvm-gateway6",
    "/qubes-netvm-network", "/qubes-netvm-netmask",  "/qubes-netvm-primary-dns",   "/qubes-netvm-secondary-dns",
    "/connected-ips",     "/connected-ips6"};

struct Changes {
  std::map<std::string, std::optional<FirewallDir>> firewall;  // by client address; nullopt: gone
  std::map<std::string, std::optional<std::string>> values;     // by key; nullopt: not set
  // The first full read since connecting ended in this batch: firewall() is now the whole
  // of what dom0 wrote (a client the caller knew and that is not there any more is gone).
  bool synced = false;
  [[nodiscard]] bool empty() const { return firewall.empty() && values.empty() && !synced; }
};

class Session {
 public:
  static constexpr std::size_t kMaxPending = 1024;
  static constexpr std::size_t kMaxReadBytes = 16u << 20;  // one multiread, paths and values
  static constexpr std::size_t kMaxClients = 4096;         // client directories followed

  [[nodiscard]] std::vector<std::byte> start();
  [[nodiscard]] std::vector<std::byte> receive(std::span<const std::byte> bytes);
  [[nodiscard]] Changes take_changes();

  [[nodiscard]] const std::string& error() const { return error_; }
  [[nodiscard]] bool synced() const { return synced_; }
  [[nodiscard]] const std::map<std::string, FirewallDir>& firewall() const { return firewall_; }
  [[nodiscard]] const std::map<std::string, std::string>& values() const { return values_; }
  [[nodiscard]] uint64_t events() const { return events_; }  // watch events received

 private:
  enum class Kind : uint8_t { watch, read, read_all, read_dir };
  struct Pending {
    Kind kind;
    std::string path;      // as sent
    bool started = false;  // a multiread's first entry has arrived
  };
  void ask(Kind kind, std::string path, std::vector<std::byte>& out);
  void handle(Message&& m, std::vector<std::byte>& out);
  void on_watch(const std::string& path, std::vector<std::byte>& out);
  void finish_read_all();
  void finish_read_dir(const std::string& addr);
  void fail(std::string why) {
    if (error_.empty()) error_ = std::move(why);
  }

  Decoder dec_;
  std::deque<Pending> pending_;
  std::map<std::string, std::map<std::string, std::string>> collecting_;  // addr -> leaf -> value
  std::size_t collected_bytes_ = 0;
  std::size_t initial_left_ = 0;  // answers of start() still to come
  std::map<std::string, FirewallDir> firewall_;
  std::map<std::string, std::string> values_;
  Changes changes_;
  bool synced_ = false;
  uint64_t events_ = 0;
  std::string error_;
};

}  // namespace xfw::qubesdb
