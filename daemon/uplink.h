// daemon/uplink.h — the uplink: where client traffic goes, masqueraded. One interface, two
// implementations; the pipeline and the dataplane do not know which one they have:
//   NetfrontUplink (netfront_uplink.h): xfwd's own netfront toward sys-net's backend, the
//       default in a Xen driver domain (no kernel network driver faces sys-net);
//   PacketUplink (packet_uplink.h): AF_PACKET on a kernel interface, for a plain Linux machine
//       and the testbed.
// Frames are whole Ethernet frames. A received frame may come with a partial checksum
// (csum_blank: the pipeline completes it) or with the other side's word that it is valid
// (csum_valid: not verified again); TCP super-frames longer than the MTU can arrive too (the
// dataplane cuts them for a VM or passes them on as GSO). A frame sent with an UplinkOffload has
// a partial checksum and, with gso_size, is cut into segments by whatever is below us.
//   auto up = PacketUplink::open("eth0", &err);   // or NetfrontUplink::open(...)
//   up->attach(loop, [&](std::span<std::byte> f, bool csum_blank, bool csum_valid) { ... });
//   up->send(frame); up->send(super_frame, UplinkOffload{...}); ... up->flush();
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "packet/addr.h"

namespace xfw::daemon {

class EventLoop;

struct UplinkCounters {
  uint64_t rx_frames = 0, rx_bytes = 0, rx_truncated = 0;
  uint64_t tx_frames = 0, tx_bytes = 0, tx_errors = 0, tx_gso = 0;
};

// A TCP frame whose checksum is left to the uplink (the frame holds the pseudo-header sum there,
// packet::set_partial_checksum). With gso_size > 0 it is also cut into segments of that many
// payload bytes.
struct UplinkOffload {
  uint16_t gso_size = 0;
  bool v6 = false;
  uint16_t l4_off = 0;   // where the TCP header starts
  uint16_t hdr_len = 0;  // Ethernet + IP + TCP headers
};

class Uplink {
 public:
  // A frame received into the uplink's own memory (not shared with anyone): the receiver may
  // rewrite it in place; valid during the call.
  using Receiver = std::function<void(std::span<std::byte>, bool csum_blank, bool csum_valid)>;
  virtual ~Uplink() = default;

  // Registers its fds and timers with the loop (before loop.start()); frames read go to `rx`,
  // and `pass_end` runs after each receive pass (see holds_frames()).
  virtual void attach(EventLoop& loop, Receiver rx, std::function<void()> pass_end) = 0;
  [[nodiscard]] virtual const packet::MacAddr& mac() const = 0;
  [[nodiscard]] virtual std::string name() const = 0;  // "eth0", "netfront vif 0"
  [[nodiscard]] virtual bool up() const = 0;            // frames can go out now
  [[nodiscard]] virtual uint32_t mtu() const = 0;
  // Takes TCP super-frames (UplinkOffload with gso_size) of this family; else the dataplane
  // cuts them itself.
  [[nodiscard]] virtual bool takes_gso(bool v6) const = 0;
  [[nodiscard]] virtual UplinkCounters counters() const = 0;
  // What `xfwctl status --json` shows under "uplink_status": {"kind": "packet"|"netfront", ...}.
  [[nodiscard]] virtual nlohmann::json status() const = 0;

  // Received frames stay where they are, unchanged, until the receive pass's end, when the
  // `pass_end` given to attach() runs: what a frame is handed on to may keep a reference until
  // then (the netfront's; a PacketUplink's frame lives only during the call).
  [[nodiscard]] virtual bool holds_frames() const { return false; }

  // Queues a frame; sent when a batch is full or on flush().
  virtual void send(std::span<const std::byte> frame, const std::optional<UplinkOffload>& offload = std::nullopt) = 0;
  virtual void flush() = 0;
};

}  // namespace xfw::daemon
