// daemon/control.h — the control socket xfwctl talks to (ARCHITECTURE.md, "Control").
//
// A UNIX stream socket (default /run/xfw/control.sock, mode 0660, group = the configured
// group). A connection is accepted only from root or from a member of the configured group,
// checked with SO_PEERCRED; others get one error line and are closed. Protocol, version 1:
// one JSON object per line each way.
//   -> {"version": 1, "command": "status"}
//   <- {"ok": true, "result": {...}}          or  {"ok": false, "error": "..."}
// A request longer than kMaxRequest, or not JSON, or of another version, gets an error reply;
// it never disturbs the daemon. A handler may keep the connection as a subscriber (`drops
// --follow`): later events are written to it as more lines until it closes.
#pragma once

#include <utility>  // before Asio (Boost 1.74)
#include <boost/asio.hpp>

#include <functional>
#include <list>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <sys/types.h>

namespace xfw::daemon {

class ControlServer {
 public:
  static constexpr std::size_t kMaxRequest = 64 * 1024;
  struct Reply {
    nlohmann::json body;     // {"ok": ..., ...}
    bool subscribe = false;  // keep the connection for publish()
  };
  using Handler = std::function<Reply(const nlohmann::json& request)>;

  // Binds `path` (a stale socket file is replaced); `group`: gid allowed besides root.
  static std::unique_ptr<ControlServer> open(boost::asio::io_context& io, const std::string& path,
                                             std::optional<gid_t> group, Handler handler,
                                             std::string* err);
  ~ControlServer();
  void start();
  void stop();
  // Sends `event` to every subscriber.
  void publish(const nlohmann::json& event);
  [[nodiscard]] std::size_t subscribers() const;

 private:
  struct Conn;
  ControlServer(boost::asio::io_context& io, std::string path, std::optional<gid_t> group, Handler h);
  void accept();
  void read(const std::shared_ptr<Conn>& c);
  void write(const std::shared_ptr<Conn>& c, std::string line);
  void flush(const std::shared_ptr<Conn>& c);
  [[nodiscard]] bool allowed(int fd, std::string* who) const;

  boost::asio::io_context& io_;
  std::string path_;
  std::optional<gid_t> group_;
  Handler handler_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  std::list<std::weak_ptr<Conn>> subscribers_;
  bool stopped_ = false;
};

}  // namespace xfw::daemon
