// daemon/control.h — the control socket xfwctl talks to (ARCHITECTURE.md, "Control").
//
// A UNIX stream socket (default /run/xfw/control.sock, mode 0660, group = the configured
// group). A connection is accepted only from root or from a member of the configured group,
// checked with SO_PEERCRED; others get one error line and are closed. Protocol, version 1:
// one JSON object per line each way.
//   -> {"version": 1, "command": "status"}
//   <- {"ok": true, "result": {...}}          or  {"ok": false, "error": "..."}
// A request longer than kMaxRequest, or not JSON, or of another version, gets an error reply;
// it never disturbs the daemon. A handler may keep the connection as a Stream (`drops --follow`,
// `capture`): later events are written to it as more lines until either side ends it; the
// client ends it by closing its side (shutdown SHUT_WR), and may then read the last lines.
// What waits to be written is bounded (kMaxBacklog bytes a connection): a reader that does not
// keep up loses events, which the sender counts, and xfwd never waits for it.
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
  static constexpr std::size_t kMaxBacklog = 4 << 20;
  class Stream;
  struct Reply {
    nlohmann::json body;  // {"ok": ..., ...}
    // Set: after the reply, the connection becomes a Stream handed to this.
    std::function<void(const std::shared_ptr<Stream>&)> stream = nullptr;
  };
  using Handler = std::function<Reply(const nlohmann::json& request)>;

  // Binds `path` (a stale socket file is replaced); `group`: gid allowed besides root.
  static std::unique_ptr<ControlServer> open(boost::asio::io_context& io, const std::string& path,
                                             std::optional<gid_t> group, Handler handler,
                                             std::string* err);
  ~ControlServer();
  void start();
  void stop();

 private:
  struct Conn;
  friend class Stream;
  ControlServer(boost::asio::io_context& io, std::string path, std::optional<gid_t> group, Handler h);
  void accept();
  void read(const std::shared_ptr<Conn>& c);
  bool write(const std::shared_ptr<Conn>& c, std::string line, bool past_limit = false);
  void flush(const std::shared_ptr<Conn>& c);
  void end(const std::shared_ptr<Conn>& c);
  [[nodiscard]] bool allowed(int fd, std::string* who) const;

  boost::asio::io_context& io_;
  std::string path_;
  std::optional<gid_t> group_;
  Handler handler_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  std::list<std::weak_ptr<Conn>> streams_;
  bool stopped_ = false;
};

// A connection kept after its reply. Lines go out in order; send() refuses (queues nothing)
// when kMaxBacklog bytes already wait or the connection is gone.
class ControlServer::Stream {
 public:
  bool send(std::string line);
  // The last line, queued whatever the backlog, then the connection is closed once written.
  void finish(std::string line);
  [[nodiscard]] bool open() const;
  [[nodiscard]] std::size_t room() const;  // bytes send() takes now
  // The client closed its side or went away: called once, from the event loop.
  std::function<void()> on_end;

 private:
  friend class ControlServer;
  Stream(ControlServer& s, std::weak_ptr<Conn> c) : server_(s), conn_(std::move(c)) {}
  ControlServer& server_;
  std::weak_ptr<Conn> conn_;
};

}  // namespace xfw::daemon
