#include "firewall/client.h"

#include "firewall/dhcp.h"

#include <algorithm>

#include "packet/build.h"

namespace xfw::firewall {
namespace {

template <class A>
bool assigned(const std::vector<A>& list, const A& a) {
  return std::find(list.begin(), list.end(), a) != list.end();
}

Verdict arp(const ClientVif& vif, const packet::Parsed& p, std::span<std::byte> reply) {
  if (p.arp_op != 1) return Drop{DropReason::arp_not_request};
  if (!assigned(vif.v4, p.arp_spa)) return Drop{DropReason::arp_spoofed};
  if (p.arp_spa == p.arp_tpa) return Drop{DropReason::arp_gratuitous};
  if (assigned(vif.v4, p.arp_tpa)) return Drop{DropReason::arp_for_own_address};
  return Reply{packet::arp_reply(reply, p, kGatewayMac)};
}

}  // namespace

const char* name(DropReason r) {
  switch (r) {
#define XFW_X(n, t) \
  case DropReason::n: return #n;
    XFW_FIREWALL_DROP_REASONS(XFW_X)
#undef XFW_X
  }
  return "?";
}

Verdict client_ingress(const ClientVif& vif, const Gateway& gw, std::span<const std::byte> frame,
                       const packet::Parsed& p, std::span<std::byte> reply) {
  using packet::ipproto::icmp;
  using packet::ipproto::icmpv6;
  switch (p.l3) {
    case packet::L3::arp:
      return arp(vif, p, reply);
    case packet::L3::ipv4:
      // DHCP: before it has an address, a client asks from 0.0.0.0.
      if (gw.dhcp && !vif.v4.empty() && p.proto == packet::ipproto::udp && p.has_l4 && p.dport == 67 &&
          (p.src4 == packet::Ipv4Addr{} || assigned(vif.v4, p.src4))) {
        const DhcpLease lease{vif.v4[0], gw.v4, gw.dns ? *gw.dns : std::vector<packet::Ipv4Addr>{}};
        if (const std::size_t n = dhcp_answer(reply, frame, p, lease, kGatewayMac)) return Reply{n};
        return Drop{DropReason::dhcp_from_client};
      }
      if (!assigned(vif.v4, p.src4)) return Drop{DropReason::spoofed_source};
      if (p.proto == packet::ipproto::udp && p.has_l4 && p.dport == 67)
        return Drop{DropReason::dhcp_from_client};
      if (p.dst4 == gw.v4 || p.dst4 == gw.uplink4) {
        if (p.proto == icmp && p.has_l4 && p.icmp_type == 8 && !p.fragment)
          return Reply{packet::icmp_echo_reply(reply, frame, p)};
        return Drop{DropReason::to_gateway_not_echo};
      }
      return Continue{};
    case packet::L3::ipv6:
      if (vif.v6.empty()) return Drop{DropReason::ipv6_not_assigned};
      if (p.proto == icmpv6 && p.has_l4 && !p.fragment && p.ttl == 255) {
        if (p.icmp_type == 135 && p.has_nd_target) {  // neighbor solicitation: proxy NDP
          if (assigned(vif.v6, p.nd_target)) return Drop{DropReason::nd_ignored};
          return Reply{packet::ndp_na(reply, p, kGatewayMac)};
        }
        if (p.icmp_type == 133 || p.icmp_type == 136) return Drop{DropReason::nd_ignored};
      }
      // Link-local traffic (MLD reports, ...) and multicast stay on the link.
      if ((p.src6.b[0] == 0xfe && (p.src6.b[1] & 0xc0) == 0x80) || p.dst6.b[0] == 0xff)
        return Drop{DropReason::ipv6_link_local};
      if (!assigned(vif.v6, p.src6)) return Drop{DropReason::spoofed_source};
      if (p.proto == icmpv6 && p.has_l4 && (p.icmp_type == 134 || p.icmp_type == 137))
        return Drop{DropReason::router_advert_from_client};
      if ((gw.v6 && p.dst6 == *gw.v6) || (gw.uplink6 && p.dst6 == *gw.uplink6)) {
        if (p.proto == icmpv6 && p.has_l4 && p.icmp_type == 128 && !p.fragment)
          return Reply{packet::icmp6_echo_reply(reply, frame, p)};
        return Drop{DropReason::to_gateway_not_echo};
      }
      return Continue{};
    case packet::L3::other:
      break;
  }
  return Drop{DropReason::unsupported_ethertype};
}

}  // namespace xfw::firewall
