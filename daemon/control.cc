#include "daemon/control.h"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <vector>

namespace xfw::daemon {

struct ControlServer::Conn {
  explicit Conn(boost::asio::io_context& io) : sock(io) {}
  boost::asio::local::stream_protocol::socket sock;
  boost::asio::streambuf in{kMaxRequest + 1};
  std::deque<std::string> out;  // lines waiting to be written
  std::size_t queued = 0;       // their bytes
  std::shared_ptr<Stream> stream;  // set: the reply is written, events follow
  bool closing = false;         // close once `out` is written
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
  for (auto& w : streams_)
    if (auto c = w.lock()) {
      c->closing = true;  // its Stream writes nothing more (and never reaches a server that is gone)
      c->sock.close(ec);
    }
  streams_.clear();
  ::unlink(path_.c_str());
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
        (void)write(c, nlohmann::json{{"ok", false}, {"error", "permission denied: " + who + " is neither root nor in the xfw control group"}}.dump() + "\n");
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
      (void)write(c, nlohmann::json{{"ok", false}, {"error", "request too long (limit 65536 bytes)"}}.dump() + "\n");
      boost::system::error_code ignored;
      c->sock.shutdown(boost::asio::socket_base::shutdown_receive, ignored);
      return;
    }
    if (ec) return end(c);  // closed (a stream's client ends it so)
    std::string line(boost::asio::buffers_begin(c->in.data()), boost::asio::buffers_begin(c->in.data()) + long(n));
    c->in.consume(n);
    if (c->stream) return read(c);  // a stream takes no more requests; only its end counts
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
    (void)write(c, reply.body.dump() + "\n", true);
    if (reply.stream) {
      c->stream.reset(new Stream(*this, c));
      std::erase_if(streams_, [](const std::weak_ptr<Conn>& w) { return w.expired(); });
      streams_.push_back(c);
      reply.stream(c->stream);
    }
    read(c);
  });
}

// A reply is always queued; an event only while the backlog has room.
bool ControlServer::write(const std::shared_ptr<Conn>& c, std::string line, bool past_limit) {
  if (!c->sock.is_open() || (!past_limit && c->queued + line.size() > kMaxBacklog)) return false;
  c->queued += line.size();
  c->out.push_back(std::move(line));
  if (c->out.size() == 1) flush(c);  // else a write is under way and will continue
  return true;
}

void ControlServer::flush(const std::shared_ptr<Conn>& c) {
  boost::asio::async_write(c->sock, boost::asio::buffer(c->out.front()),
                           [this, c](boost::system::error_code ec, std::size_t) {
                             c->queued -= c->out.front().size();
                             c->out.pop_front();
                             boost::system::error_code ignored;
                             if (ec) {
                               c->out.clear();
                               c->queued = 0;
                               c->sock.close(ignored);
                               return end(c);
                             }
                             if (!c->out.empty()) return flush(c);
                             if (c->closing) c->sock.close(ignored);
                           });
}

// The client closed its side, or the connection broke: a stream's owner hears of it once.
void ControlServer::end(const std::shared_ptr<Conn>& c) {
  if (!c->stream || stopped_) return;
  const auto s = std::move(c->stream);
  if (s->on_end) std::exchange(s->on_end, nullptr)();
}

bool ControlServer::Stream::send(std::string line) {
  const auto c = conn_.lock();
  return c && !c->closing && server_.write(c, std::move(line));
}

void ControlServer::Stream::finish(std::string line) {
  const auto c = conn_.lock();
  if (!c || c->closing) return;
  c->closing = true;
  on_end = nullptr;  // it ended here
  boost::system::error_code ignored;
  if (line.empty() ? c->out.empty() : !server_.write(c, std::move(line), true)) c->sock.close(ignored);
}

std::size_t ControlServer::Stream::room() const {
  const auto c = conn_.lock();
  return c && !c->closing && c->sock.is_open() ? kMaxBacklog - std::min(c->queued, kMaxBacklog) : 0;
}

bool ControlServer::Stream::open() const {
  const auto c = conn_.lock();
  return c && !c->closing && c->sock.is_open();
}

}  // namespace xfw::daemon
