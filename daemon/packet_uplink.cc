#include "daemon/packet_uplink.h"

#include <arpa/inet.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "daemon/event_loop.h"

namespace xfw::daemon {
namespace {

std::string sys_error(const std::string& what) { return what + ": " + std::strerror(errno); }

// The socket's buffers, each way: the default (net.core.rmem_default/wmem_default, 208 KiB)
// holds three TCP super-frames, and a full one drops (the receive side in the kernel, the send
// side here as tx_errors), which the lab's TCP senders saw as retransmissions both ways. 4 MiB,
// as a qdisc of 1000 frames would hold; only what waits takes memory. Forced past
// rmem_max/wmem_max with CAP_NET_ADMIN (xfwd.service has it), else as large as they allow.
constexpr int kSocketBuffer = 4 << 20;
void set_buffer(int fd, int force, int plain) {
  if (::setsockopt(fd, SOL_SOCKET, force, &kSocketBuffer, sizeof kSocketBuffer) < 0)
    (void)::setsockopt(fd, SOL_SOCKET, plain, &kSocketBuffer, sizeof kSocketBuffer);
}
int get_int(int fd, int level, int name) {
  int v = 0;
  socklen_t len = sizeof v;
  return ::getsockopt(fd, level, name, &v, &len) == 0 ? v : -1;
}

// struct virtio_net_hdr, the header PACKET_VNET_HDR puts before every frame (its fields in host
// byte order on little-endian machines). <linux/virtio_net.h> itself does not compile as C++.
struct virtio_net_hdr {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
};
static_assert(sizeof(virtio_net_hdr) == 10);
constexpr uint8_t VIRTIO_NET_HDR_F_NEEDS_CSUM = 1, VIRTIO_NET_HDR_F_DATA_VALID = 2;
constexpr uint8_t VIRTIO_NET_HDR_GSO_TCPV4 = 1, VIRTIO_NET_HDR_GSO_TCPV6 = 4;

}  // namespace

std::unique_ptr<PacketUplink> PacketUplink::open(const std::string& ifname, std::string* err) {
  std::unique_ptr<PacketUplink> u(new PacketUplink);
  u->name_ = ifname;
  u->fd_ = ::socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
  if (u->fd_ < 0) return *err = sys_error("uplink: AF_PACKET socket (needs CAP_NET_RAW)"), nullptr;
  ifreq ifr{};
  if (ifname.size() >= sizeof ifr.ifr_name) return *err = "uplink: interface name too long", nullptr;
  std::memcpy(ifr.ifr_name, ifname.c_str(), ifname.size());
  if (::ioctl(u->fd_, SIOCGIFINDEX, &ifr) < 0) return *err = sys_error("uplink: interface " + ifname), nullptr;
  u->ifindex_ = ifr.ifr_ifindex;
  // The uplink is xfwd's: it brings the link up itself (in sys-firewall nothing else
  // configures the netfront's interface).
  if (::ioctl(u->fd_, SIOCGIFFLAGS, &ifr) < 0) return *err = sys_error("uplink: flags of " + ifname), nullptr;
  if (!(ifr.ifr_flags & IFF_UP)) {
    ifr.ifr_flags = short(ifr.ifr_flags | IFF_UP);
    if (::ioctl(u->fd_, SIOCSIFFLAGS, &ifr) < 0)
      return *err = sys_error("uplink: cannot bring " + ifname + " up (needs CAP_NET_ADMIN)"), nullptr;
  }
  if (::ioctl(u->fd_, SIOCGIFHWADDR, &ifr) < 0) return *err = sys_error("uplink: MAC of " + ifname), nullptr;
  std::memcpy(u->mac_.b.data(), ifr.ifr_hwaddr.sa_data, 6);
  if (::ioctl(u->fd_, SIOCGIFMTU, &ifr) < 0) return *err = sys_error("uplink: MTU of " + ifname), nullptr;
  if (ifr.ifr_mtu < 576 || ifr.ifr_mtu > 65535) return *err = "uplink: MTU of " + ifname + " out of range", nullptr;
  u->mtu_ = uint32_t(ifr.ifr_mtu);

  // One frame per read: no GRO on this interface (best effort; not every driver has it).
  ethtool_value gro{ETHTOOL_SGRO, 0};
  ifr.ifr_data = reinterpret_cast<char*>(&gro);
  (void)::ioctl(u->fd_, SIOCETHTOOL, &ifr);

  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = u->ifindex_;
  if (::bind(u->fd_, reinterpret_cast<sockaddr*>(&sll), sizeof sll) < 0)
    return *err = sys_error("uplink: bind to " + ifname), nullptr;
  const int one = 1;
  if (::setsockopt(u->fd_, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) < 0)
    return *err = sys_error("uplink: PACKET_VNET_HDR"), nullptr;
  (void)::setsockopt(u->fd_, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
  set_buffer(u->fd_, SO_RCVBUFFORCE, SO_RCVBUF);
  set_buffer(u->fd_, SO_SNDBUFFORCE, SO_SNDBUF);
  u->rx_.resize(kBatch * kMaxFrame);
  u->tx_.resize(kBatch * kMaxFrame);
  u->tx_len_.resize(kBatch);
  u->tx_gso_.resize(kBatch);
  return u;
}

PacketUplink::~PacketUplink() {
  if (fd_ >= 0) ::close(fd_);
}

std::size_t PacketUplink::receive(const Receiver& f, std::size_t max_batches) {
  mmsghdr msgs[kBatch];
  iovec iov[kBatch][2];
  virtio_net_hdr vh[kBatch];
  std::size_t total = 0;
  for (std::size_t b = 0; b < max_batches; ++b) {
    for (std::size_t i = 0; i < kBatch; ++i) {
      iov[i][0] = {&vh[i], sizeof vh[i]};
      iov[i][1] = {rx_.data() + i * kMaxFrame, kMaxFrame};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_iov = iov[i];
      msgs[i].msg_hdr.msg_iovlen = 2;
    }
    const int n = ::recvmmsg(fd_, msgs, kBatch, MSG_DONTWAIT | MSG_TRUNC, nullptr);
    if (n <= 0) break;
    for (int i = 0; i < n; ++i) {
      if (msgs[i].msg_len < sizeof vh[i] || msgs[i].msg_len - sizeof vh[i] > kMaxFrame ||
          (msgs[i].msg_hdr.msg_flags & MSG_TRUNC)) {
        ++c_.rx_truncated;
        continue;
      }
      const std::size_t len = msgs[i].msg_len - sizeof vh[i];
      const bool csum_blank = (vh[i].flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) != 0;
      const bool csum_valid = (vh[i].flags & VIRTIO_NET_HDR_F_DATA_VALID) != 0;
      ++c_.rx_frames;
      c_.rx_bytes += len;
      f(std::span(rx_.data() + i * kMaxFrame, len), csum_blank, csum_valid);
    }
    total += std::size_t(n);
    if (std::size_t(n) < kBatch) break;
  }
  return total;
}

void PacketUplink::send(std::span<const std::byte> frame, const std::optional<UplinkOffload>& gso) {
  if (frame.size() > kMaxFrame) {
    ++c_.tx_errors;
    return;
  }
  if (tx_count_ == kBatch) flush();
  std::memcpy(tx_.data() + tx_count_ * kMaxFrame, frame.data(), frame.size());
  tx_gso_[tx_count_] = gso;
  tx_len_[tx_count_++] = uint32_t(frame.size());
}

void PacketUplink::flush() {
  if (tx_count_ == 0) return;
  mmsghdr msgs[kBatch];
  iovec iov[kBatch][2];
  virtio_net_hdr vh[kBatch];
  for (std::size_t i = 0; i < tx_count_; ++i) {
    vh[i] = {};
    if (const auto& g = tx_gso_[i]) {  // the kernel finishes the checksum (and segments)
      vh[i].flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
      vh[i].csum_start = g->l4_off;
      vh[i].csum_offset = 16;
      if (g->gso_size > 0) {
        vh[i].gso_type = g->v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
        vh[i].gso_size = g->gso_size;
        vh[i].hdr_len = g->hdr_len;
        ++c_.tx_gso;
      }
    }
    iov[i][0] = {&vh[i], sizeof vh[i]};
    iov[i][1] = {tx_.data() + i * kMaxFrame, tx_len_[i]};
    msgs[i] = {};
    msgs[i].msg_hdr.msg_iov = iov[i];
    msgs[i].msg_hdr.msg_iovlen = 2;
  }
  std::size_t sent = 0;
  while (sent < tx_count_) {
    const int n = ::sendmmsg(fd_, msgs + sent, unsigned(tx_count_ - sent), MSG_DONTWAIT);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      c_.tx_errors += tx_count_ - sent;  // a full socket buffer drops, as a NIC queue would
      break;
    }
    for (int i = 0; i < n; ++i) c_.tx_bytes += tx_len_[sent + std::size_t(i)];
    c_.tx_frames += std::size_t(n);
    sent += std::size_t(n);
  }
  tx_count_ = 0;
}

void PacketUplink::attach(EventLoop& loop, Receiver rx, std::function<void()> pass_end) {
  loop.add_reader(fd_, [this, rx = std::move(rx), pass_end = std::move(pass_end)] {
    receive(rx);
    pass_end();
  });
}

bool PacketUplink::up() const {
  std::ifstream f("/sys/class/net/" + name_ + "/operstate");
  std::string s;
  f >> s;
  return s == "up" || s == "unknown";  // a TAP or veth without carrier reporting says unknown
}

// socket_drops: frames the kernel could not queue on the socket (its receive buffer full);
// PACKET_STATISTICS counts since the last time it was asked.
nlohmann::json PacketUplink::status() const {
  tpacket_stats st{};
  socklen_t len = sizeof st;
  if (::getsockopt(fd_, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) socket_drops_ += st.tp_drops;
  return {{"kind", "packet"},
          {"interface", name_},
          {"mtu", mtu_},
          {"rcvbuf", get_int(fd_, SOL_SOCKET, SO_RCVBUF)},
          {"sndbuf", get_int(fd_, SOL_SOCKET, SO_SNDBUF)},
          {"socket_drops", socket_drops_}};
}

}  // namespace xfw::daemon
