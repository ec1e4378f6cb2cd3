// daemon/uplink.h — the uplink interface, read and written whole frames at a time (AF_PACKET).
//
// xfwd owns the uplink: the interface carries no IPv4 address of the kernel's, so the kernel
// drops what arrives for xfwd's address (ARCHITECTURE.md), and xfwd answers ARP for it itself.
// Frames are read in batches with recvmmsg() and sent in batches with sendmmsg(); our own
// transmissions are not looped back (PACKET_IGNORE_OUTGOING). Generic receive offload is
// switched off on the interface, so a read is one frame as it was on the wire; a frame whose
// checksum the kernel has not finished (TP_STATUS_CSUMNOTREADY, e.g. from a local veth peer)
// is flagged so the pipeline completes it.
//   auto up = Uplink::open("eth0", &err);
//   up->receive([&](std::span<const std::byte> f, bool csum_blank) { ... });
//   up->send(frame); ... up->flush();
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
  uint64_t tx_frames = 0, tx_bytes = 0, tx_errors = 0;
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

  // Reads what is waiting (up to `max_batches` batches); returns the number of frames.
  std::size_t receive(const std::function<void(std::span<const std::byte>, bool csum_blank)>& f,
                      std::size_t max_batches = 4);
  // Queues a frame; the batch is sent when full or on flush().
  void send(std::span<const std::byte> frame);
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
  std::size_t tx_count_ = 0;
};

}  // namespace xfw::daemon
