// firewall/verdict.h — what a pipeline stage decides about a frame: a closed set.
//
//   Continue      pass the frame to the next stage
//   Reply{len}    answer with the frame the stage wrote into the reply buffer
//   Drop{reason}  drop it; the reason is counted per vif (and shown by `xfwctl stats`)
#pragma once

#include <cstddef>
#include <cstdint>
#include <variant>

#include "packet/parse.h"

namespace xfw::firewall {

#define XFW_FIREWALL_DROP_REASONS(X)                                                    \
  X(malformed, "frame failed parsing (see the parse error)")                            \
  X(unsupported_ethertype, "neither ARP, IPv4 nor IPv6 (VLAN tags, LLDP, ...)")          \
  X(arp_not_request, "ARP reply or unknown operation from a client (ignored)")          \
  X(arp_gratuitous, "gratuitous ARP from a client (ignored)")                          \
  X(arp_for_own_address, "client asked for its own address")                           \
  X(arp_spoofed, "ARP sender address is not the client's")                             \
  X(spoofed_source, "source address is not the vif's assigned address")                \
  X(ipv6_not_assigned, "IPv6 from a VM without an IPv6 address")                       \
  X(to_gateway_not_echo, "only ICMP echo is answered by the gateway address")           \
  X(dhcp_from_client, "DHCP from a client")                                            \
  X(router_advert_from_client, "router advertisement or redirect from a client")

enum class DropReason : uint8_t {
#define XFW_X(n, t) n,
  XFW_FIREWALL_DROP_REASONS(XFW_X)
#undef XFW_X
};
[[nodiscard]] const char* name(DropReason r);

struct Continue {};
struct Reply {
  std::size_t len;
};
struct Drop {
  DropReason reason;
};
using Verdict = std::variant<Continue, Reply, Drop>;

}  // namespace xfw::firewall
