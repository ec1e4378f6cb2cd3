#include "daemon/self_tap.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace xfw::daemon {
namespace {

sockaddr_in inet(packet::Ipv4Addr a) {
  sockaddr_in s{};
  s.sin_family = AF_INET;
  std::memcpy(&s.sin_addr, a.b.data(), 4);
  return s;
}

std::string sys_error(const std::string& what) { return what + ": " + std::strerror(errno); }

}  // namespace

std::unique_ptr<SelfTap> SelfTap::open(const std::string& name, packet::Ipv4Addr addr,
                                       packet::Ipv4Addr gateway, std::string* err) {
  std::unique_ptr<SelfTap> t(new SelfTap);
  t->fd_ = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (t->fd_ < 0) return *err = sys_error("self: /dev/net/tun"), nullptr;
  ifreq ifr{};
  if (name.empty() || name.size() >= sizeof ifr.ifr_name) return *err = "self.interface: bad name", nullptr;
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  std::memcpy(ifr.ifr_name, name.c_str(), name.size());
  if (::ioctl(t->fd_, TUNSETIFF, &ifr) < 0) return *err = sys_error("self: TAP " + name), nullptr;

  // No IPv6 on it (its link-local chatter would only be dropped); best effort.
  if (FILE* f = std::fopen(("/proc/sys/net/ipv6/conf/" + name + "/disable_ipv6").c_str(), "w")) {
    std::fputs("1", f);
    std::fclose(f);
  }
  const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return *err = sys_error("self: socket"), nullptr;
  auto fail = [&](const std::string& what) {
    *err = sys_error("self: " + what + " of " + name);
    ::close(s);
    return nullptr;
  };
  if (::ioctl(s, SIOCGIFHWADDR, &ifr) < 0) return fail("MAC");
  std::memcpy(t->mac_.b.data(), ifr.ifr_hwaddr.sa_data, 6);
  auto set_addr = [&](unsigned long req, packet::Ipv4Addr a) {
    const sockaddr_in sin = inet(a);
    std::memcpy(&ifr.ifr_addr, &sin, sizeof sin);
    return ::ioctl(s, req, &ifr) == 0;
  };
  if (!set_addr(SIOCSIFADDR, addr)) return fail("address");
  if (!set_addr(SIOCSIFNETMASK, packet::Ipv4Addr{{255, 255, 255, 255}})) return fail("netmask");
  if (::ioctl(s, SIOCGIFFLAGS, &ifr) < 0) return fail("flags");
  ifr.ifr_flags = short(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
  if (::ioctl(s, SIOCSIFFLAGS, &ifr) < 0) return fail("up");

  // The gateway on-link, and the default route through it (an existing default route stays).
  std::string dev = name;
  rtentry host{};
  const sockaddr_in gw = inet(gateway), any = inet(packet::Ipv4Addr{}),
                    all = inet(packet::Ipv4Addr{{255, 255, 255, 255}});
  std::memcpy(&host.rt_dst, &gw, sizeof gw);
  std::memcpy(&host.rt_genmask, &all, sizeof all);
  host.rt_flags = RTF_UP | RTF_HOST;
  host.rt_dev = dev.data();
  if (::ioctl(s, SIOCADDRT, &host) < 0 && errno != EEXIST) return fail("route to the gateway");
  rtentry def{};
  std::memcpy(&def.rt_dst, &any, sizeof any);
  std::memcpy(&def.rt_genmask, &any, sizeof any);
  std::memcpy(&def.rt_gateway, &gw, sizeof gw);
  def.rt_flags = RTF_UP | RTF_GATEWAY;
  def.rt_dev = dev.data();
  if (::ioctl(s, SIOCADDRT, &def) < 0 && errno != EEXIST) return fail("default route");
  ::close(s);
  t->buf_.resize(65536);
  return t;
}

SelfTap::~SelfTap() {
  if (fd_ >= 0) ::close(fd_);
}

void SelfTap::receive(const std::function<void(std::span<std::byte>)>& f) {
  for (int i = 0; i < 64; ++i) {
    const ssize_t n = ::read(fd_, buf_.data(), buf_.size());
    if (n <= 0) return;
    f(std::span(buf_.data(), std::size_t(n)));
  }
}

void SelfTap::send(std::span<const std::byte> frame) {
  if (::write(fd_, frame.data(), frame.size()) < 0) ++write_errors_;
}

}  // namespace xfw::daemon
