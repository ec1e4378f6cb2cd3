// netback/drop_reason.h — why netback dropped a packet or disconnected a vif.
//
// Drops are data: every reason has a counter per vif. Reasons marked "fatal" disconnect the vif
// (its guest broke the ring protocol); the others drop one packet. Names are stable: they show
// in `xfwctl stats` and logs.
#pragma once

#include <array>
#include <cstdint>

namespace xfw::netback {

#define XFW_NETBACK_DROP_REASONS(X)                                                            \
  /* per packet, guest -> backend (tx ring) */                                                \
  X(tx_runt, "first slot size < 14 (not an Ethernet frame)")                                  \
  X(tx_slot_crosses_page, "slot offset + size > 4096")                                        \
  X(tx_zero_fragment, "zero-length fragment")                                                 \
  X(tx_fragment_overflow, "fragment sizes exceed the packet length")                          \
  X(tx_too_many_slots, "more than 18 slots in one packet")                                    \
  X(tx_gso_not_negotiated, "GSO extra info, GSO not advertised")                              \
  X(tx_bad_gso, "GSO extra with size below 48 or unknown type")                               \
  X(tx_grant_copy_failed, "grant copy from the guest failed")                                 \
  /* per packet, backend -> guest (rx ring) */                                                \
  X(rx_queue_full, "queue towards the guest full")                                            \
  X(rx_too_big, "frame larger than the guest accepts")                                        \
  X(rx_gso_not_negotiated, "GSO super-frame for a guest that did not offer that GSO type")    \
  X(rx_stalled, "guest posted no receive buffers in time")                                    \
  X(rx_grant_copy_failed, "grant copy to the guest failed")                                   \
  X(rx_vif_down, "vif not connected")                                                         \
  /* fatal: the vif is disconnected */                                                        \
  X(fatal_tx_req_prod, "tx req_prod moved more than the ring size")                           \
  X(fatal_rx_req_prod, "rx req_prod moved more than the ring size")                           \
  X(fatal_tx_slots_beyond_prod, "packet claims more slots than the guest queued")             \
  X(fatal_tx_abusive_slots, "20 or more slots in one packet")                                 \
  X(fatal_tx_bad_extra, "extra-info slot with an invalid type or too many extras")

enum class DropReason : uint8_t {
#define XFW_X(name, text) name,
  XFW_NETBACK_DROP_REASONS(XFW_X)
#undef XFW_X
      count_
};

inline constexpr std::size_t kDropReasonCount = std::size_t(DropReason::count_);

[[nodiscard]] constexpr bool is_fatal(DropReason r) {
  return uint8_t(r) >= uint8_t(DropReason::fatal_tx_req_prod);
}
[[nodiscard]] const char* name(DropReason r);
[[nodiscard]] const char* describe(DropReason r);

using DropCounters = std::array<uint64_t, kDropReasonCount>;

}  // namespace xfw::netback
