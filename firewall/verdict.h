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
  X(eth_dst_other, "frame to another host's MAC, not the firewall's (Linux: PACKET_OTHERHOST)") \
  X(eth_dst_group, "IP in an Ethernet broadcast or multicast: never forwarded (RFC 1812 5.3.4)") \
  X(arp_not_request, "ARP reply or unknown operation from a client (ignored)")          \
  X(arp_gratuitous, "gratuitous ARP from a client (ignored)")                          \
  X(arp_for_own_address, "client asked for its own address")                           \
  X(arp_spoofed, "ARP sender address is not the client's")                             \
  X(spoofed_source, "source address is not the vif's assigned address")                \
  X(ipv6_not_assigned, "IPv6 from a VM without an IPv6 address")                       \
  X(to_gateway_not_echo, "only ICMP echo is answered by the firewall's own addresses")   \
  X(martian_destination, "destination 0.0.0.0, 127.0.0.0/8 or 255.255.255.255: never forwarded (RFC 1812 5.3.7)") \
  X(multicast_destination, "IPv4 multicast destination: the firewall VM routes no multicast") \
  X(ip_option_refused, "IPv4 source route (LSRR, SSRR: accept_source_route=0) or CIPSO option") \
  X(l4_bad_checksum, "TCP, UDP or ICMP checksum wrong (Linux: nf_conntrack_checksum)")  \
  X(tcp_invalid_flags, "TCP flags conntrack calls invalid (SYN+FIN, FIN alone, none, ...)") \
  X(tcp_out_of_window, "TCP segment outside its connection's window, or a RST older than the peer's ack") \
  X(icmp_not_echo, "ICMP that is neither an echo request nor an error about a connection") \
  X(dhcp_from_client, "DHCP from a client")                                            \
  X(router_advert_from_client, "router advertisement or redirect from a client")        \
  X(ipv6_link_local, "IPv6 from a link-local address or to a multicast group (stays on the link)") \
  X(nd_ignored, "neighbor discovery not answered (router solicitation, advertisement, DAD)") \
  X(rule_drop, "a rule of the VM says drop")                                           \
  X(rule_policy, "no rule of the VM matched: policy drop")                             \
  X(rule_unresolved_host, "a dsthost of the VM's rules is unresolved: failing closed")  \
  X(rules_invalid, "the VM's rules from QubesDB could not be read: failing closed")    \
  X(unsupported_protocol, "IP protocol other than TCP, UDP, ICMP (NAT cannot map it)")   \
  X(inter_vm, "new connection to another client VM (inter-VM traffic is off)")         \
  X(tcp_not_syn, "TCP segment of no known connection that is not a SYN")               \
  X(conntrack_table_full, "connection table full")                                      \
  X(conntrack_vif_limit, "this VM has reached its connection limit")                    \
  X(nat_no_port, "no free NAT port toward that destination")                            \
  X(dns_response_bad, "DNS response to xfwd's own query that is malformed or unasked")  \
  X(dns_no_resolver, "DNS to the virtual DNS address, but no upstream resolver is set")  \
  X(ttl_exceeded, "TTL or hop limit ran out")                                           \
  X(fragment_no_flow, "IP fragment whose first fragment was not seen")                 \
  X(fragment_overlap, "IPv4 fragment overlapping one already passed, or a second first fragment (RFC 5722)") \
  X(icmp_error_no_flow, "ICMP error about no known connection")                        \
  X(uplink_unconfigured, "no uplink address for this address family")                  \
  X(uplink_gateway_unknown, "the uplink gateway's MAC is not resolved yet")            \
  X(uplink_not_for_us, "uplink frame not addressed to the uplink address")             \
  X(uplink_no_flow, "uplink packet of no known connection")                            \
  X(uplink_from_client_address, "uplink packet with a client VM's source address")     \
  X(vif_gone, "the connection's VM is no longer attached")                             \
  X(too_big_for_vm, "longer than the VM's MTU and not TCP (only TCP is segmented)")        \
  X(too_big_for_uplink, "longer than the uplink's MTU and not TCP (only TCP is segmented)")

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
