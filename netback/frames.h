// netback/frames.h — the narrow frame interface between netback and whatever consumes frames.
//
// Netback knows nothing about firewalls: it hands every frame a guest sent to a FrameSink, and
// accepts frames for a guest through Netback::to_guest(). A VifId names one connected vif; it
// is never reused (a generation counter), so a stale id after a disconnect is simply refused.
//
//   class Echo : public FrameSink {              // reflects every frame back to its sender
//     void from_guest(VifId v, std::span<std::byte> f, TxFlags) override {
//       netback->to_guest(v, f);
//     } ...
//   };
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "packet/addr.h"
#include "xen/parse.h"
#include "xen/types.h"

namespace xfw::netback {

struct VifId {
  uint32_t slot = 0;
  uint32_t gen = 0;
  friend bool operator==(VifId, VifId) = default;
};

struct VifInfo {
  VifId id;
  xen::DomId domid;
  uint32_t devid = 0;
  std::string name;  // the VM's name (/local/domain/<id>/name), "" if unknown
  packet::MacAddr mac;
  xen::IpList ips;
};

// GSO metadata (netif.h XEN_NETIF_GSO_TYPE_TCPV4/TCPV6): the frame stands for TCP segments of
// `size` payload bytes each (a "super-frame"). type 0: a plain frame.
inline constexpr uint8_t kGsoTcpV4 = 1, kGsoTcpV6 = 2;  // XEN_NETIF_GSO_TYPE_TCPV4, _TCPV6
struct Gso {
  uint16_t size = 0;
  uint8_t type = 0;
  [[nodiscard]] explicit operator bool() const { return type != 0; }
};

// Checksum claims from the guest (NETTXF_csum_blank / NETTXF_data_validated). They are claims
// only: the consumer verifies or computes checksums itself (NETBACK-HARDENING.md item 12).
struct TxFlags {
  bool csum_blank = false;
  bool data_validated = false;
  Gso gso;  // its extra-info slot, when the backend offered feature-gso-tcpv4/v6
};

class FrameSink {
 public:
  virtual ~FrameSink() = default;
  virtual void vif_up(const VifInfo& vif) = 0;
  virtual void vif_down(VifId vif) = 0;
  // `frame` is a private copy (netback's scratch), the sink's to rewrite in place, valid only
  // during the call. Calling Netback::to_guest() from here is allowed (it queues, or grant-copies
  // a super-frame at once; it never calls back into the sink).
  virtual void from_guest(VifId vif, std::span<std::byte> frame, TxFlags flags) = 0;
};

}  // namespace xfw::netback
