// daemon/packet_uplink.h — the uplink as AF_PACKET on a kernel interface (daemon/uplink.h).
//
// xfwd owns the interface: it carries no IPv4 address of the kernel's, so the kernel drops what
// arrives for xfwd's address (ARCHITECTURE.md), and xfwd answers ARP for it itself. Frames are
// read in batches with recvmmsg() and sent in batches with sendmmsg(); our own transmissions
// are not looped back (PACKET_IGNORE_OUTGOING). Generic receive offload is switched off on the
// interface. Every frame goes with a virtio_net_hdr (PACKET_VNET_HDR): on receive it says
// whether the kernel left the checksum unfinished (a local peer such as a veth:
// VIRTIO_NET_HDR_F_NEEDS_CSUM) or verified it (VIRTIO_NET_HDR_F_DATA_VALID: a kernel netfront
// whose backend vouched for it); a peer doing TSO/GSO still hands over TCP super-frames. On
// send, a TCP super-frame goes out whole with a GSO header and the kernel segments it (or passes
// it on to a peer that takes GSO). The socket's buffers are 4 MiB each way (packet_uplink.cc).
#pragma once

#include <memory>
#include <vector>

#include "daemon/uplink.h"

namespace xfw::daemon {

class PacketUplink final : public Uplink {
 public:
  static constexpr std::size_t kBatch = 32;
  static constexpr std::size_t kMaxFrame = 65536;

  static std::unique_ptr<PacketUplink> open(const std::string& ifname, std::string* err);
  ~PacketUplink() override;
  PacketUplink(const PacketUplink&) = delete;
  PacketUplink& operator=(const PacketUplink&) = delete;

  void attach(EventLoop& loop, Receiver rx, std::function<void()> pass_end) override;
  [[nodiscard]] const packet::MacAddr& mac() const override { return mac_; }
  [[nodiscard]] std::string name() const override { return name_; }
  [[nodiscard]] bool up() const override;
  [[nodiscard]] uint32_t mtu() const override { return mtu_; }
  [[nodiscard]] bool takes_gso(bool) const override { return true; }  // the kernel segments
  [[nodiscard]] UplinkCounters counters() const override { return c_; }
  [[nodiscard]] nlohmann::json status() const override;
  void send(std::span<const std::byte> frame, const std::optional<UplinkOffload>& offload = std::nullopt) override;
  void flush() override;

  [[nodiscard]] int fd() const { return fd_; }
  // Reads what is waiting (up to `max_batches` batches); returns the number of frames.
  std::size_t receive(const Receiver& f, std::size_t max_batches = 4);

 private:
  PacketUplink() = default;
  int fd_ = -1;
  int ifindex_ = 0;
  std::string name_;
  packet::MacAddr mac_;
  UplinkCounters c_;
  std::vector<std::byte> rx_, tx_;  // kBatch frames each
  std::vector<uint32_t> tx_len_;
  std::vector<std::optional<UplinkOffload>> tx_gso_;
  uint32_t mtu_ = 1500;
  std::size_t tx_count_ = 0;
  mutable uint64_t socket_drops_ = 0;  // PACKET_STATISTICS resets what it reports
};

}  // namespace xfw::daemon
