// firewall/client.h — the first stage for frames from a client VM (QUBES-SEMANTICS.md).
//
// Client links are point-to-point and every client is untrusted:
//  * ARP: who-has for any address except the client's own is answered "is at
//    fe:ff:ff:ff:ff:ff" (proxy ARP); gratuitous ARP, ARP replies and ARP with a foreign sender
//    address are ignored. IPv6 neighbor solicitations (RFC 4861, hop limit 255) are answered
//    the same way for any target but the client's own (so its duplicate address detection
//    succeeds); router solicitations and advertisements from the client are ignored.
//  * IPv4/IPv6 source must be the vif's assigned address (anti-spoofing), checked before
//    anything else; a VM without an IPv6 address has all its IPv6 dropped.
//  * The gateway address (and the firewall's uplink addresses) answers ICMP echo and nothing else; router advertisements or
//    redirects from clients are dropped, and so is DHCP unless `dhcp` is on: then a DISCOVER
//    or REQUEST (from 0.0.0.0 or the vif's own address) gets the vif's address (dhcp.h).
// Everything else continues to connection tracking and the rules.
#pragma once

#include <optional>
#include <span>
#include <vector>

#include "firewall/verdict.h"
#include "packet/addr.h"
#include "packet/parse.h"

namespace xfw::firewall {

inline constexpr packet::MacAddr kGatewayMac{{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff}};

struct ClientVif {
  std::vector<packet::Ipv4Addr> v4;  // the vif's `ip` key
  std::vector<packet::Ipv6Addr> v6;
};

struct Gateway {
  packet::Ipv4Addr v4;                 // the firewall's address on client links
  std::optional<packet::Ipv6Addr> v6;  // and its IPv6 address, if clients have IPv6
  bool dhcp = false;                   // answer DHCP with the vif's address (firewall/dhcp.h)
  const std::vector<packet::Ipv4Addr>* dns = nullptr;  // the virtual DNS addresses, for DHCP
  // The firewall's addresses on the uplink: its own too, answered as the gateway's are.
  std::optional<packet::Ipv4Addr> uplink4;
  std::optional<packet::Ipv6Addr> uplink6;
};

[[nodiscard]] Verdict client_ingress(const ClientVif& vif, const Gateway& gw,
                                     std::span<const std::byte> frame, const packet::Parsed& p,
                                     std::span<std::byte> reply);

}  // namespace xfw::firewall
