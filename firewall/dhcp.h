// firewall/dhcp.h — `[firewall] dhcp`: a client that asks by DHCP gets the one address the
// toolstack gave its vif, and nothing else of DHCP (off by default: Qubes assigns addresses
// statically, and a client's DHCP is dropped).
//
// Answered (RFC 2131): DISCOVER with an OFFER, REQUEST with an ACK when it asks for that
// address (option 50, or ciaddr when renewing) and with a NAK otherwise; a REQUEST naming
// another server (option 54) is not ours. Both carry the vif's address, /32, the gateway as
// router and server, the virtual DNS addresses and a lease. Everything else — DECLINE,
// RELEASE, INFORM, BOOTP without DHCP, a chaddr that is not the frame's sender, options that
// run past the message — gets no answer (the caller drops it, counted as dhcp_from_client).
// The options are read with every length checked against the message.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "packet/addr.h"
#include "packet/parse.h"

namespace xfw::firewall {

struct DhcpLease {
  packet::Ipv4Addr addr;     // the vif's (its first IPv4 address)
  packet::Ipv4Addr gateway;  // router and server identifier
  std::vector<packet::Ipv4Addr> dns;
  uint32_t lease_s = 86'400;
};

inline constexpr uint8_t kDhcpDiscover = 1, kDhcpOffer = 2, kDhcpRequest = 3, kDhcpAck = 5, kDhcpNak = 6;

// The answer to the DHCP message in `frame` (UDP 68 -> 67, parsed as `p`) written to `out` as
// a whole Ethernet frame from `gw_mac`; its length, or 0 when there is none to give.
[[nodiscard]] std::size_t dhcp_answer(std::span<std::byte> out, std::span<const std::byte> frame,
                                      const packet::Parsed& p, const DhcpLease& lease,
                                      packet::MacAddr gw_mac);

}  // namespace xfw::firewall
