// netfront/drop_reason.h — why xfwd's netfront dropped a frame or reset the uplink.
//
// Mirrors netback/drop_reason.h, for the other trust boundary: here sys-net's backend is the
// hostile side (NETFRONT-HARDENING.md). Reasons marked "fatal" reset the uplink (torn down,
// reconnected after a back-off); the others drop one frame. The AppVMs' vifs are never touched.
// Names are stable: they show in `xfwctl stats` and logs.
#pragma once

#include <array>
#include <cstdint>

namespace xfw::netfront {

#define XFW_NETFRONT_DROP_REASONS(X)                                                           \
  /* per frame, toward the backend (tx ring) */                                               \
  X(tx_down, "uplink not connected")                                                          \
  X(tx_ring_full, "no room in the tx ring: the backend has not answered")                     \
  X(tx_too_big, "frame too long for the slots the backend takes")                             \
  X(tx_gso_not_negotiated, "GSO super-frame for a backend that did not offer that GSO type")  \
  X(tx_error, "the backend answered NETIF_RSP_ERROR")                                         \
  X(tx_dropped, "the backend answered NETIF_RSP_DROPPED")                                     \
  /* per frame, from the backend (rx ring) */                                                 \
  X(rx_error, "response status < 0")                                                          \
  X(rx_slot_crosses_page, "response offset + size > 4096")                                    \
  X(rx_too_many_slots, "more than 18 slots in one frame")                                     \
  X(rx_too_big, "frame longer than 65535 + 14 bytes")                                         \
  X(rx_runt, "frame shorter than 14 bytes")                                                   \
  X(rx_bad_extra, "extra-info slot of a type not negotiated, or more than 4")                 \
  X(rx_bad_gso, "GSO extra with size 0, an unknown type or one not offered")                  \
  /* fatal: the uplink is reset */                                                            \
  X(fatal_tx_rsp_prod, "tx rsp_prod moved past the requests outstanding")                     \
  X(fatal_rx_rsp_prod, "rx rsp_prod moved past the buffers posted")                           \
  X(fatal_tx_bad_id, "tx response id unknown or already answered")                            \
  X(fatal_tx_bad_status, "tx response status not OKAY, ERROR, DROPPED or NULL")               \
  X(fatal_rx_bad_id, "rx response id is not the buffer posted in that slot")

enum class DropReason : uint8_t {
#define XFW_X(name, text) name,
  XFW_NETFRONT_DROP_REASONS(XFW_X)
#undef XFW_X
      count_
};

inline constexpr std::size_t kDropReasonCount = std::size_t(DropReason::count_);

[[nodiscard]] constexpr bool is_fatal(DropReason r) {
  return uint8_t(r) >= uint8_t(DropReason::fatal_tx_rsp_prod);
}
[[nodiscard]] const char* name(DropReason r);
[[nodiscard]] const char* describe(DropReason r);

using DropCounters = std::array<uint64_t, kDropReasonCount>;

}  // namespace xfw::netfront
