// daemon/uplink.h — the uplink interface, read and written whole frames at a time (AF_PACKET).
//
// xfwd owns the uplink: the interface carries no IPv4 address of the kernel's, so the kernel
// drops what arrives for xfwd's address (ARCHITECTURE.md), and xfwd answers ARP for it itself.
// Frames are read in batches with recvmmsg() and sent in batches with sendmmsg(); our own
// transmissions are not looped back (PACKET_IGNORE_OUTGOING). Generic receive offload is
// switched off on the interface. Every frame goes with a virtio_net_hdr (PACKET_VNET_HDR):
// on receive it says whether the kernel left the checksum unfinished (a local peer such as a
// veth: VIRTIO_NET_HDR_F_NEEDS_CSUM), and the pipeline completes it, or that it verified it
// (VIRTIO_NET_HDR_F_DATA_VALID: a netfront whose backend vouched for it), and the pipeline does
// not verify it again; a peer doing TSO/GSO
// still hands over TCP super-frames, which the dataplane cuts or passes on as GSO. On send,
// a guest's TCP super-frame goes out whole with a GSO header and the kernel segments it
// (or passes it on to a peer that takes GSO).
//   auto up = Uplink::open("eth0", &err);
//   up->receive([&](std::span<const std::byte> f, bool csum_blank, bool csum_valid) { ... });
//   up->send(frame); up->send(super_frame, UplinkOffload{...}); ... up->flush();
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "packet/addr.h"

namespace xfw::daemon {

struct UplinkCounters {
  uint64_t rx_frames = 0, rx_bytes = 0, rx_truncated = 0;
  uint64_t tx_frames = 0, tx_bytes = 0, tx_errors = 0, tx_gso = 0;
};

// A TCP frame whose checksum the kernel finishes (VIRTIO_NET_HDR_F_NEEDS_CSUM; the frame holds
// the pseudo-header sum there, packet::set_partial_checksum). With gso_size > 0 the kernel also
// cuts it into segments of that many payload bytes.
struct UplinkOffload {
  uint16_t gso_size = 0;
  bool v6 = false;
  uint16_t l4_off = 0;   // where the TCP header starts
  uint16_t hdr_len = 0;  // Ethernet + IP + TCP headers
};

class Uplink {
 public:
  static constexpr std::size_t kBatch = 32;
  static constexpr std::size_t kMaxFrame = 65536;

  static std::unique_ptr<Uplink> open(const std::string& ifname, std::string* err);
  ~Uplink();
  Uplink(const Uplink&) = delete;
  Uplink& operator=(const Uplink&) = delete;

  [[nodiscard]] int fd() const { return fd_; }
  [[nodiscard]] const packet::MacAddr& mac() const { return mac_; }
  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] const UplinkCounters& counters() const { return c_; }
  [[nodiscard]] uint32_t mtu() const { return mtu_; }

  // Reads what is waiting (up to `max_batches` batches); returns the number of frames.
  std::size_t receive(const std::function<void(std::span<const std::byte>, bool csum_blank, bool csum_valid)>& f,
                      std::size_t max_batches = 4);
  // Queues a frame; the batch is sent when full or on flush().
  void send(std::span<const std::byte> frame, const std::optional<UplinkOffload>& gso = std::nullopt);
  void flush();

 private:
  Uplink() = default;
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
};

}  // namespace xfw::daemon
