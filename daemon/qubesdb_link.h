// daemon/qubesdb_link.h — xfwd's QubesDB source ([qubesdb] enabled): rules, client addresses and
// the network from dom0, through the firewall VM's own QubesDB daemon, as Qubes' firewall agent
// takes them (qubesdb/session.h speaks the protocol).
//
// What it applies, as it arrives:
//   /qubes-firewall/<addr>/...    that client's rules (they take precedence over local rules for
//                                 the same VM); refused ones drop everything from the client
//   /connected-ips, -ips6         every client address dom0 knows: refused as uplink sources
//   /qubes-ip, -gateway, -ip6, -gateway6           xfwd's uplink address and next hop
//   /qubes-primary-dns, -secondary-dns             the real resolvers (DNS redirect upstream)
//   /qubes-netvm-gateway, -gateway6                xfwd's address on client links
//   /qubes-netvm-primary-dns, -secondary-dns       the virtual DNS addresses clients use
// A key QubesDB does not have keeps the configuration file's value. If the daemon goes away,
// nothing changes (the last rules stay; a new client gets the policy drop until dom0's rules
// for it arrive) and xfwd connects again every second; the first full read after a reconnect
// replaces what the previous connection gave. A daemon that breaks the protocol is
// disconnected the same way, with the reason in the log.
#pragma once

#include <utility>  // before Asio (Boost 1.74)
#include <boost/asio.hpp>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "daemon/dataplane.h"
#include "daemon/rules_store.h"
#include "qubesdb/session.h"

namespace xfw::daemon {

class QubesDbLink {
 public:
  // `base`: the configuration file's network; `local`: the rules xfwctl manages, which a client
  // falls back to when dom0 removes its QubesDB rules.
  QubesDbLink(boost::asio::io_context& io, std::string socket, Dataplane& dp, firewall::NetworkConfig base,
              const RuleMap& local);
  void start();
  void stop();

  // A client address whose rules come from QubesDB (xfwctl refuses to change them).
  [[nodiscard]] bool manages(const std::string& key) const { return applied_.count(key) > 0; }
  [[nodiscard]] const std::map<std::string, qubesdb::FirewallDir>& rules() const { return applied_; }
  [[nodiscard]] const std::map<std::string, std::string>& values() const { return values_; }
  [[nodiscard]] bool connected() const { return connected_; }
  [[nodiscard]] bool synced() const { return synced_; }
  [[nodiscard]] const std::string& socket_path() const { return path_; }
  [[nodiscard]] uint64_t connects() const { return connects_; }
  // Called once, after the first full read (the rules of every client are known).
  std::function<void()> on_first_sync;
  [[nodiscard]] const std::string& last_error() const { return last_error_; }

 private:
  void connect();
  void read();
  void send(std::vector<std::byte> bytes);
  void flush();
  void lost(const std::string& why);
  void apply(qubesdb::Changes c);
  void apply_network();

  boost::asio::io_context& io_;
  std::string path_;
  Dataplane& dp_;
  firewall::NetworkConfig base_;
  const RuleMap& local_;
  std::unique_ptr<boost::asio::local::stream_protocol::socket> sock_;
  boost::asio::steady_timer retry_;
  std::unique_ptr<qubesdb::Session> session_;
  std::array<std::byte, 8192> in_{};
  std::vector<std::byte> out_, writing_;
  std::map<std::string, qubesdb::FirewallDir> applied_;
  std::map<std::string, std::string> values_;
  bool connected_ = false, synced_ = false, stopped_ = false, logged_absent_ = false;
  uint64_t connects_ = 0, gen_ = 0;  // gen_: the connection callbacks belong to
  std::string last_error_;
};

}  // namespace xfw::daemon
