#include "daemon/control.h"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <deque>
#include <vector>

namespace xfw::daemon {

struct ControlServer::Conn {
  explicit Conn(boost::asio::io_context& io) : sock(io) {}
  boost::asio::local::stream_protocol::socket sock;
  boost::asio::streambuf in{kMaxRequest + 1};
  std::deque<std::string> out;  // lines waiting to be written
  bool subscribed = false;
};

ControlServer::ControlServer(boost::asio::io_context& io, std::string path, std::optional<gid_t> group,
                             Handler h)
    : io_(io), path_(std::move(path)), group_(group), handler_(std::move(h)), acceptor_(io) {}

ControlServer::~ControlServer() { stop(); }

std::unique_ptr<ControlServer> ControlServer::open(boost::asio::io_context& io, const std::string& path,
                                                   std::optional<gid_t> group, Handler handler,
                                                   std::string* err) {
  std::unique_ptr<ControlServer> s(new ControlServer(io, path, group, std::move(handler)));
  boost::system::error_code ec;
  if (const auto slash = path.rfind('/'); slash != std::string::npos && slash > 0)
    (void)::mkdir(path.substr(0, slash).c_str(), 0750);  // /run/xfw, if nothing made it yet
  ::unlink(path.c_str());  // a socket left by an earlier run
  s->acceptor_.open(boost::asio::local::stream_protocol(), ec);
  if (!ec) s->acceptor_.bind(boost::asio::local::stream_protocol::endpoint(path), ec);
  if (!ec) s->acceptor_.listen(16, ec);
  if (ec) return *err = "control socket " + path + ": " + ec.message(), nullptr;
  // rw for root and the group only (under systemd, Group=xfw made it ours already).
  struct stat st{};
  if (::chmod(path.c_str(), 0660) != 0 || ::stat(path.c_str(), &st) != 0 ||
      (group && st.st_gid != *group && ::chown(path.c_str(), 0, *group) != 0))
    return *err = "control socket " + path + ": cannot set its mode or group", nullptr;
  return s;
}

void ControlServer::start() { accept(); }

void ControlServer::stop() {
  if (stopped_) return;
  stopped_ = true;
  boost::system::error_code ec;
  acceptor_.close(ec);
  for (auto& w : subscribers_)
    if (auto c = w.lock()) c->sock.close(ec);
  ::unlink(path_.c_str());
}

std::size_t ControlServer::subscribers() const {
  std::size_t n = 0;
  for (const auto& w : subscribers_) n += !w.expired();
  return n;
}

// Root, or a member of the configured group (primary or supplementary), by SO_PEERCRED.
bool ControlServer::allowed(int fd, std::string* who) const {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return false;
  *who = "uid " + std::to_string(cred.uid);
  if (cred.uid == 0) return true;
  if (!group_) return false;
  if (cred.gid == *group_) return true;
  const passwd* pw = ::getpwuid(cred.uid);
  if (!pw) return false;
  int n = 64;
  std::vector<gid_t> groups(64);
  if (::getgrouplist(pw->pw_name, pw->pw_gid, groups.data(), &n) < 0) {
    groups.resize(std::size_t(n));
    if (::getgrouplist(pw->pw_name, pw->pw_gid, groups.data(), &n) < 0) return false;
  }
  for (int i = 0; i < n; ++i)
    if (groups[std::size_t(i)] == *group_) return true;
  return false;
}

void ControlServer::accept() {
  auto c = std::make_shared<Conn>(io_);
  acceptor_.async_accept(c->sock, [this, c](boost::system::error_code ec) {
    if (stopped_ || ec == boost::asio::error::operation_aborted) return;
    if (!ec) {
      std::string who;
      if (allowed(c->sock.native_handle(), &who)) {
        read(c);
      } else {
        write(c, nlohmann::json{{"ok", false}, {"error", "permission denied: " + who + " is neither root nor in the xfw control group"}}.dump() + "\n");
        c->sock.shutdown(boost::asio::socket_base::shutdown_receive, ec);
      }
    }
    accept();
  });
}

void ControlServer::read(const std::shared_ptr<Conn>& c) {
  boost::asio::async_read_until(c->sock, c->in, '\n', [this, c](boost::system::error_code ec, std::size_t n) {
    if (stopped_) return;
    if (ec == boost::asio::error::not_found) {  // longer than kMaxRequest without a newline
      write(c, nlohmann::json{{"ok", false}, {"error", "request too long (limit 65536 bytes)"}}.dump() + "\n");
      boost::system::error_code ignored;
      c->sock.shutdown(boost::asio::socket_base::shutdown_receive, ignored);
      return;
    }
    if (ec) return;  // closed
    std::string line(boost::asio::buffers_begin(c->in.data()), boost::asio::buffers_begin(c->in.data()) + long(n));
    c->in.consume(n);
    Reply reply;
    const auto req = nlohmann::json::parse(line, nullptr, false);
    if (req.is_discarded() || !req.is_object()) {
      reply.body = {{"ok", false}, {"error", "not a JSON object"}};
    } else if (!req.contains("version") || req["version"] != 1) {
      reply.body = {{"ok", false}, {"error", "unsupported protocol version (this xfwd speaks version 1)"}};
    } else {
      try {  // a field of the wrong type (nlohmann throws) is the client's error, not ours
        reply = handler_(req);
      } catch (const std::exception& e) {
        reply.body = {{"ok", false}, {"error", std::string("bad request: ") + e.what()}};
      }
    }
    write(c, reply.body.dump() + "\n");
    if (reply.subscribe && !c->subscribed) {
      c->subscribed = true;
      subscribers_.push_back(c);
    }
    read(c);
  });
}

void ControlServer::write(const std::shared_ptr<Conn>& c, std::string line) {
  if (c->out.size() > 1024) return;  // a subscriber that does not read loses events, not memory
  c->out.push_back(std::move(line));
  if (c->out.size() == 1) flush(c);  // else a write is under way and will continue
}

void ControlServer::flush(const std::shared_ptr<Conn>& c) {
  boost::asio::async_write(c->sock, boost::asio::buffer(c->out.front()),
                           [this, c](boost::system::error_code ec, std::size_t) {
                             c->out.pop_front();
                             if (ec) {
                               c->out.clear();
                               return;
                             }
                             if (!c->out.empty()) flush(c);
                           });
}

void ControlServer::publish(const nlohmann::json& event) {
  const std::string line = event.dump() + "\n";
  for (auto it = subscribers_.begin(); it != subscribers_.end();) {
    if (auto c = it->lock(); c && c->sock.is_open()) {
      write(c, line);
      ++it;
    } else {
      it = subscribers_.erase(it);
    }
  }
}

}  // namespace xfw::daemon
