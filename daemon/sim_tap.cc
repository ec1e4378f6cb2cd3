#include "daemon/sim_tap.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "packet/addr.h"

namespace xfw::daemon {

std::optional<SimTapSpec> SimTaps::parse_spec(const std::string& s, std::string* err) {
  const auto eq = s.find('=');
  if (eq == std::string::npos) return *err = "--sim-tap " + s + ": expected NAME=IPV4[,IPV6]", std::nullopt;
  SimTapSpec spec{s.substr(0, eq), s.substr(eq + 1), {}};
  if (const auto at = spec.ip.find('@'); at != std::string::npos) {
    spec.netns = spec.ip.substr(at + 1);
    spec.ip.resize(at);
    if (spec.netns.empty() || spec.netns[0] != '/')
      return *err = "--sim-tap " + s + ": NETNS must be an absolute path", std::nullopt;
  }
  if (spec.name.empty() || spec.name.size() > 12 ||
      spec.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos)
    return *err = "--sim-tap " + s + ": NAME must be 1 to 12 of [a-z0-9-]", std::nullopt;
  const auto comma = spec.ip.find(',');
  if (!packet::Ipv4Addr::parse(spec.ip.substr(0, comma)) ||
      (comma != std::string::npos && !packet::Ipv6Addr::parse(spec.ip.substr(comma + 1))))
    return *err = "--sim-tap " + s + ": expected NAME=IPV4[,IPV6][@NETNS]", std::nullopt;
  if (comma != std::string::npos) spec.ip[comma] = ' ';  // the vif's `ip` key: space-separated
  return spec;
}

namespace {

// The TAP `ifname`, in network namespace `netns` ("": ours, created if need be).
int open_tap(const std::string& ifname, const std::string& netns, std::string* err) {
  int home = -1;
  if (!netns.empty()) {
    home = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    const int ns = ::open(netns.c_str(), O_RDONLY | O_CLOEXEC);
    if (home < 0 || ns < 0 || ::setns(ns, CLONE_NEWNET) != 0) {
      *err = "network namespace " + netns + ": " + std::strerror(errno);
      if (ns >= 0) ::close(ns);
      if (home >= 0) ::close(home);
      return -1;
    }
    ::close(ns);
  }
  int fd = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    *err = std::string("/dev/net/tun: ") + std::strerror(errno);
  } else {
    ifreq ifr{};
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    std::memcpy(ifr.ifr_name, ifname.c_str(), std::min(ifname.size(), sizeof ifr.ifr_name - 1));
    if (::ioctl(fd, TUNSETIFF, &ifr) < 0) {
      *err = "TAP " + ifname + (netns.empty() ? "" : " in " + netns) + ": " + std::strerror(errno);
      ::close(fd);
      fd = -1;
    }
  }
  if (home >= 0) {
    if (::setns(home, CLONE_NEWNET) != 0) std::abort();  // never left in the guest's namespace
    ::close(home);
  }
  return fd;
}

}  // namespace

SimTaps::SimTaps(boost::asio::io_context& io, xen::sim::SimHypervisor& hv, xen::DomId backend)
    : io_(io), hv_(hv), backend_(backend), timer_(io), buf_(65536) {}

SimTaps::~SimTaps() { stop(); }

bool SimTaps::add(const SimTapSpec& spec, std::string* err) {
  auto g = std::make_unique<Guest>();
  g->ifname = "xt-" + spec.name;
  const int fd = open_tap(g->ifname, spec.netns, err);
  if (fd < 0) return false;
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
  opt.tx_csum_offload = false;  // nor checksum offloads: the AppVM's kernel completed them
  g->front = std::make_unique<xen::sim::SimNetfront>(hv_, dom, backend_, 0, opt);
  g->evt = std::make_unique<boost::asio::posix::stream_descriptor>(io_, ::dup(g->front->evt().fd()));
  guests_.push_back(std::move(g));
  return true;
}

bool SimTaps::add_uplink(const SimTapSpec& spec, std::string* err) {
  auto g = std::make_unique<Guest>();
  g->ifname = spec.name;
  const int fd = open_tap(g->ifname, spec.netns, err);
  if (fd < 0) return false;
  g->tap = std::make_unique<boost::asio::posix::stream_descriptor>(io_, fd);
  xen::sim::SimToolstack ts(hv_);
  ts.create_domain(kSysNet, "sys-net");
  xen::sim::SimVifSpec vif;
  vif.backend = kSysNet;
  vif.frontend = backend_;  // xfwd's domain is this vif's frontend
  vif.ip = "";
  ts.add_vif(vif);
  // The TAP carries no GSO metadata nor checksum offloads: no GSO offered, xfwd cuts its
  // super-frames and sends complete checksums.
  g->back = std::make_unique<xen::sim::SimNetback>(hv_, kSysNet, backend_, 0,
                                                   xen::sim::SimNetbackOptions{.sg = true, .gso4 = false, .gso6 = false});
  g->back->step();  // InitWait before xfwd looks, as a booted sys-net is
  g->evt = std::make_unique<boost::asio::posix::stream_descriptor>(io_, ::dup(g->back->evt_fd()));
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
  for (const auto& g : guests_) n += g->front && g->front->connected();
  return n;
}

// The AppVM's kernel sent frames: out through its netfront.
void SimTaps::wait_tap(Guest& g) {
  g.tap->async_wait(boost::asio::posix::stream_descriptor::wait_read, [this, &g](boost::system::error_code ec) {
    if (ec || stopped_) return;
    for (int i = 0; i < 64; ++i) {
      const ssize_t n = ::read(g.tap->native_handle(), buf_.data(), buf_.size());
      if (n <= 0) break;
      if (!g.send(std::span(buf_.data(), std::size_t(n)))) ++dropped_;
    }
    g.step();
    deliver(g);
    wait_tap(g);
  });
}

// Netback notified the guest: collect what it received and hand it to the kernel.
void SimTaps::wait_evt(Guest& g) {
  g.evt->async_wait(boost::asio::posix::stream_descriptor::wait_read, [this, &g](boost::system::error_code ec) {
    if (ec || stopped_) return;
    g.step();
    deliver(g);
    wait_evt(g);
  });
}

void SimTaps::deliver(Guest& g) {
  while (auto f = g.receive()) {
    if (::write(g.tap->native_handle(), f->data(), f->size()) < 0) ++dropped_;
  }
}

// The handshake follows XenStore, which the simulated netfront polls.
void SimTaps::tick() {
  for (auto& g : guests_) {
    g->step();
    deliver(*g);
  }
  timer_.expires_after(std::chrono::milliseconds(5));
  timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec && !stopped_) tick();
  });
}

}  // namespace xfw::daemon
