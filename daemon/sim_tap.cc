#include "daemon/sim_tap.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "packet/addr.h"

namespace xfw::daemon {

std::optional<SimTapSpec> SimTaps::parse_spec(const std::string& s, std::string* err) {
  const auto eq = s.find('=');
  if (eq == std::string::npos) return *err = "--sim-tap " + s + ": expected NAME=IPV4[,IPV6]", std::nullopt;
  SimTapSpec spec{s.substr(0, eq), s.substr(eq + 1)};
  if (spec.name.empty() || spec.name.size() > 12 ||
      spec.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos)
    return *err = "--sim-tap " + s + ": NAME must be 1 to 12 of [a-z0-9-]", std::nullopt;
  const auto comma = spec.ip.find(',');
  if (!packet::Ipv4Addr::parse(spec.ip.substr(0, comma)) ||
      (comma != std::string::npos && !packet::Ipv6Addr::parse(spec.ip.substr(comma + 1))))
    return *err = "--sim-tap " + s + ": expected NAME=IPV4[,IPV6]", std::nullopt;
  if (comma != std::string::npos) spec.ip[comma] = ' ';  // the vif's `ip` key: space-separated
  return spec;
}

SimTaps::SimTaps(boost::asio::io_context& io, xen::sim::SimHypervisor& hv, xen::DomId backend)
    : io_(io), hv_(hv), backend_(backend), timer_(io), buf_(65536) {}

SimTaps::~SimTaps() { stop(); }

bool SimTaps::add(const SimTapSpec& spec, std::string* err) {
  auto g = std::make_unique<Guest>();
  g->ifname = "xt-" + spec.name;
  const int fd = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return *err = std::string("/dev/net/tun: ") + std::strerror(errno), false;
  ifreq ifr{};
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  std::memcpy(ifr.ifr_name, g->ifname.c_str(), g->ifname.size());
  if (::ioctl(fd, TUNSETIFF, &ifr) < 0) {
    *err = "TAP " + g->ifname + ": " + std::strerror(errno);
    ::close(fd);
    return false;
  }
  g->tap = std::make_unique<boost::asio::posix::stream_descriptor>(io_, fd);

  const xen::DomId dom{uint16_t(10 + guests_.size())};
  xen::sim::SimToolstack ts(hv_);
  ts.create_domain(dom, spec.name);
  xen::sim::SimVifSpec vif;
  vif.backend = backend_;
  vif.frontend = dom;
  vif.ip = spec.ip;
  ts.add_vif(vif);
  xen::sim::SimNetfrontOptions opt;
  opt.rx_gso = false;  // the TAP carries no GSO metadata: xfwd cuts super-frames for it
  g->front = std::make_unique<xen::sim::SimNetfront>(hv_, dom, backend_, 0, opt);
  g->evt = std::make_unique<boost::asio::posix::stream_descriptor>(io_, ::dup(g->front->evt().fd()));
  guests_.push_back(std::move(g));
  return true;
}

void SimTaps::start() {
  for (auto& g : guests_) {
    wait_tap(*g);
    wait_evt(*g);
  }
  tick();
}

void SimTaps::stop() {
  stopped_ = true;
  timer_.cancel();
  boost::system::error_code ec;
  for (auto& g : guests_) {
    g->tap->cancel(ec);
    g->evt->cancel(ec);
  }
}

std::size_t SimTaps::connected() const {
  std::size_t n = 0;
  for (const auto& g : guests_) n += g->front->connected();
  return n;
}

// The AppVM's kernel sent frames: out through its netfront.
void SimTaps::wait_tap(Guest& g) {
  g.tap->async_wait(boost::asio::posix::stream_descriptor::wait_read, [this, &g](boost::system::error_code ec) {
    if (ec || stopped_) return;
    for (int i = 0; i < 64; ++i) {
      const ssize_t n = ::read(g.tap->native_handle(), buf_.data(), buf_.size());
      if (n <= 0) break;
      if (!g.front->connected() || !g.front->send(std::span(buf_.data(), std::size_t(n)))) ++dropped_;
    }
    g.front->step();
    deliver(g);
    wait_tap(g);
  });
}

// Netback notified the guest: collect what it received and hand it to the kernel.
void SimTaps::wait_evt(Guest& g) {
  g.evt->async_wait(boost::asio::posix::stream_descriptor::wait_read, [this, &g](boost::system::error_code ec) {
    if (ec || stopped_) return;
    g.front->step();
    deliver(g);
    wait_evt(g);
  });
}

void SimTaps::deliver(Guest& g) {
  while (auto f = g.front->receive()) {
    if (::write(g.tap->native_handle(), f->data(), f->size()) < 0) ++dropped_;
  }
}

// The handshake follows XenStore, which the simulated netfront polls.
void SimTaps::tick() {
  for (auto& g : guests_) {
    g->front->step();
    deliver(*g);
  }
  timer_.expires_after(std::chrono::milliseconds(5));
  timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec && !stopped_) tick();
  });
}

}  // namespace xfw::daemon
