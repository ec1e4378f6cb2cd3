// firewall/pipeline.cc — the path of a frame, stage after stage (see pipeline.h). The rest of
// Pipeline: pipeline_state.cc (vifs, rules, explain), pipeline_link.cc (ARP, NDP, own DNS).
#include "firewall/pipeline.h"

#include "packet/segment.h"

#include <algorithm>
#include <cstring>

#include "nat/icmp_error.h"
#include "nat/rewrite.h"
#include "packet/bytes.h"


namespace xfw::firewall {
namespace {

using packet::ipproto::icmp;
using packet::ipproto::icmpv6;
using packet::ipproto::tcp;
using packet::ipproto::udp;
constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kAck = 0x10;

void set_macs(std::span<std::byte> f, const packet::MacAddr& dst, const packet::MacAddr& src,
              packet::Parsed& p) {
  std::memcpy(f.data(), dst.b.data(), 6);
  std::memcpy(f.data() + 6, src.b.data(), 6);
  p.dst_mac = dst;
  p.src_mac = src;
}

bool is_group(const packet::MacAddr& m) { return m.b[0] & 1; }  // broadcast or multicast

// What Linux's forwarding path refuses before any rule (docs/parity.md): a destination no
// router forwards to (RFC 1812 §5.3.7, RFC 4291 §2.5.3), IPv4 multicast (the firewall VM
// routes none), and the IPv4 options it will not forward.
std::optional<DropReason> not_forwardable(const packet::Parsed& p) {
  if (p.l3 == packet::L3::ipv6) {
    const packet::Ipv6Addr none{}, loopback{{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}};
    if (p.dst6 == none || p.dst6 == loopback) return DropReason::martian_destination;
    return std::nullopt;
  }
  if (p.dst4.b[0] == 127 || p.dst4 == packet::Ipv4Addr{} || p.dst4 == packet::Ipv4Addr{{255, 255, 255, 255}})
    return DropReason::martian_destination;
  if ((p.dst4.b[0] & 0xF0) == 0xE0) return DropReason::multicast_destination;
  if (p.refused_option) return DropReason::ip_option_refused;
  return std::nullopt;
}

// The checks Linux's connection tracking makes of every packet before it looks the connection
// up: the transport checksum (unless the sender left it to us, csum_blank, or vouched for it,
// data_validated) and the TCP flags.
std::optional<DropReason> not_trackable(std::span<const std::byte> f, const packet::Parsed& p, bool checksum_known) {
  if (!p.has_l4) return std::nullopt;
  if (!checksum_known && !p.fragment && !is_super_frame(p) && !packet::l4_checksum_ok(f, p))
    return DropReason::l4_bad_checksum;
  if (p.proto == tcp && !nat::tcp_flags_valid(p.tcp_flags)) return DropReason::tcp_invalid_flags;
  return std::nullopt;
}

nat::TcpSegment segment_of(const packet::Parsed& p) {
  return {p.tcp_seq, p.tcp_ack, p.tcp_win, uint32_t(p.l4_len() - p.tcp_hlen), p.tcp_flags, p.tcp_wscale};
}

DropReason drop_reason(const Decision& d) {
  switch (d.why) {
    case Why::rule: return DropReason::rule_drop;
    case Why::policy: return DropReason::rule_policy;
    case Why::unresolved_host: return DropReason::rule_unresolved_host;
    case Why::invalid: return DropReason::rules_invalid;
  }
  return DropReason::rule_policy;
}

}  // namespace

// ---- from a client ----------------------------------------------------------------------

std::optional<DropReason> Pipeline::from_client(netback::VifId vif, std::span<const std::byte> frame,
                                                netback::TxFlags flags, int64_t now) {
  if (frame.size() > buf_.size()) return DropReason::malformed;
  std::memcpy(buf_.data(), frame.data(), frame.size());
  return from_client_in_place(vif, std::span(buf_.data(), frame.size()), flags, now);
}

std::optional<DropReason> Pipeline::from_client_in_place(netback::VifId vif, std::span<std::byte> frame,
                                                         netback::TxFlags flags, int64_t now) {
  if (vif.slot >= clients_.size() || !clients_[vif.slot] || !(clients_[vif.slot]->id == vif))
    return DropReason::vif_gone;
  const Client& c = *clients_[vif.slot];
  if (frame.size() > kMaxFrame) return DropReason::malformed;
  frame_ = frame;
  const std::span<std::byte> f = frame;

  auto parsed = packet::parse(f);
  if (!std::holds_alternative<packet::Parsed>(parsed)) return DropReason::malformed;
  packet::Parsed& p = std::get<packet::Parsed>(parsed);

  if (p.l3 != packet::L3::other && !is_group(p.dst_mac) && p.dst_mac != kGatewayMac) return DropReason::eth_dst_other;
  const Gateway gw{cfg_.gateway, cfg_.gateway6, cfg_.dhcp, &cfg_.dns_virtual, cfg_.uplink_addr, cfg_.uplink_addr6};
  const Verdict v = client_ingress(c.addrs, gw, f, p, reply_);
  if (const auto* r = std::get_if<Reply>(&v)) {
    out_.to_vif(c.id, std::span(reply_.data(), r->len));
    return std::nullopt;
  }
  if (const auto* d = std::get_if<Drop>(&v)) return d->reason;
  if (is_group(p.dst_mac)) return DropReason::eth_dst_group;
  if (const auto why = not_forwardable(p)) return *why;

  // NETTXF_csum_blank: finish it for them (a super-frame's is rewritten after the pipeline).
  if (flags.csum_blank && !is_super_frame(p)) nat::complete_checksum(f, p);
  if (const auto why = not_trackable(f, p, flags.csum_blank || flags.data_validated)) return *why;
  if (p.ttl <= 1) {  // RFC 792 / RFC 4443 §3.3: time exceeded in transit, from the gateway
    // ... but never about an ICMP error or a later fragment (RFC 1122 §3.2.2, RFC 4443 §2.4).
    if (p.later_fragment || nat::is_icmp_error(p)) return DropReason::ttl_exceeded;
    if (p.l3 == packet::L3::ipv4) {
      out_.to_vif(c.id, std::span(reply_.data(), packet::icmp4_error(reply_, f, p, cfg_.gateway, 11, 0)));
    } else if (cfg_.gateway6) {
      out_.to_vif(c.id, std::span(reply_.data(), packet::icmp6_error(reply_, f, p, *cfg_.gateway6, 3, 0)));
    }
    return DropReason::ttl_exceeded;
  }
  if (p.later_fragment) return client_fragment(c, p, now);
  if (p.proto != tcp && p.proto != udp && p.proto != icmp && p.proto != icmpv6)
    return DropReason::unsupported_protocol;
  if (nat::is_icmp_error(p)) return client_icmp_error(c, p, now);
  if ((p.proto == icmp || p.proto == icmpv6) && !nat::is_echo_request(p)) return DropReason::icmp_not_echo;
  if (p.fragment && p.l3 == packet::L3::ipv4 && frags_out_.started(p, now)) return DropReason::fragment_overlap;

  uint32_t id = ct_.find_orig(nat::key_of(p), now);
  // A GSO super-frame keeps its segment size only if it really is TCP.
  const uint16_t gso_size = flags.gso && p.proto == tcp ? flags.gso.size : 0;
  // A SYN on a connection both sides closed opens a new one (RFC 9293 §3.10.7.4, as conntrack).
  if (id != nat::ConnTrack::kNone && p.proto == tcp && (p.tcp_flags & (kSyn | kAck)) == kSyn &&
      ct_.flow(id).tcp >= nat::TcpState::closing) {
    ct_.remove(id);
    id = nat::ConnTrack::kNone;
  }
  if (id == nat::ConnTrack::kNone) return forward_new(c, p, now, gso_size);
  if (p.proto == tcp && !p.fragment && !ct_.in_window(id, true, segment_of(p))) return DropReason::tcp_out_of_window;
  ct_.seen(id, true, p.tcp_flags, now);
  if (p.fragment) frags_out_.remember(p, id, now);
  const nat::Flow& fl = ct_.flow(id);
  if (!(fl.nat_dst == fl.orig.dst)) nat::set_dst(f, p, fl.nat_dst, fl.orig.dport);
  nat::set_src(f, p, ct_.uplink(fl.orig.v6), fl.nat_port);
  return send_uplink(p, gso_size);
}

// A later fragment: the address rewrite of the flow its first fragment belonged to.
std::optional<DropReason> Pipeline::client_fragment(const Client& c, packet::Parsed& p, int64_t now) {
  if (p.l3 != packet::L3::ipv4) return DropReason::fragment_no_flow;
  const uint32_t id = frags_out_.follow(p, now);
  if (id == nat::Fragments::kOverlap) return DropReason::fragment_overlap;
  if (id == nat::ConnTrack::kNone || !ct_.flow(id).live || ct_.flow(id).vif_slot != c.id.slot ||
      !(ct_.flow(id).orig.src == nat::src_of(p)))
    return DropReason::fragment_no_flow;
  const nat::Flow& fl = ct_.flow(id);
  const std::span<std::byte> f(frame_.data(), p.l3_end);
  if (!(fl.nat_dst == fl.orig.dst)) nat::set_dst(f, p, fl.nat_dst, 0);
  nat::set_src(f, p, ct_.uplink(false), 0);
  return send_uplink(p);
}

std::optional<DropReason> Pipeline::forward_new(const Client& c, packet::Parsed& p, int64_t now,
                                                uint16_t gso_size) {
  // Not a SYN: answered with a RST only when it is a bare ACK (what a VM sends on a connection
  // xfwd no longer has, and what Linux's conntrack would pick up); SYN+ACK, FIN or RST of no
  // connection are dropped silently, as conntrack calls them invalid.
  if (p.proto == tcp && (p.tcp_flags & (kSyn | kAck | kRst)) != kSyn) {
    if ((p.tcp_flags & (kFin | kSyn | kRst | kAck)) == kAck) return refuse(c, p, DropReason::tcp_not_syn);
    return DropReason::tcp_not_syn;
  }
  const nat::Key k = nat::key_of(p);
  if (client_by_addr(k.dst) && !cfg_.inter_vm) return refuse(c, p, DropReason::inter_vm);

  const Decision d = ruleset(vm_of(c, k.v6)).classify(query_of(k, p.icmp_type));
  if (d.action == Action::drop) return refuse(c, p, drop_reason(d));

  nat::Addr nat_dst = k.dst;
  if (!k.v6 && (p.proto == udp || p.proto == tcp) && p.dport == 53) {
    if (std::find(cfg_.dns_virtual.begin(), cfg_.dns_virtual.end(), p.dst4) != cfg_.dns_virtual.end()) {
      const auto r = resolver_for(p.dst4);
      if (!r) return DropReason::dns_no_resolver;
      nat_dst = nat::addr_of(*r);
    }
  }
  if (k.v6 ? !cfg_.uplink_addr6 : !cfg_.uplink_addr) return DropReason::uplink_unconfigured;
  const auto made = ct_.create(k, nat_dst, c.id.slot, c.id.gen, d.rule.value_or(0), now);
  if (const auto* why = std::get_if<nat::Refused>(&made)) {
    switch (*why) {
      case nat::Refused::table_full: return DropReason::conntrack_table_full;
      case nat::Refused::vif_limit: return DropReason::conntrack_vif_limit;
      case nat::Refused::no_nat_port:
      case nat::Refused::taken: return DropReason::nat_no_port;
    }
  }
  const uint32_t id = std::get<uint32_t>(made);
  if (p.proto == tcp && !p.fragment) (void)ct_.in_window(id, true, segment_of(p));  // the opening SYN
  ct_.seen(id, true, p.tcp_flags, now);
  if (p.fragment) frags_out_.remember(p, id, now);
  const std::span<std::byte> f(frame_.data(), p.l3_end);
  if (!(nat_dst == k.dst)) nat::set_dst(f, p, nat_dst, p.dport);
  nat::set_src(f, p, ct_.uplink(k.v6), ct_.flow(id).nat_port);
  return send_uplink(p, gso_size);
}

// A policy drop, answered (when `reject` is on) the way Qubes does: TCP RST, or ICMP
// "communication administratively prohibited" (RFC 1812 §5.2.7.1) from the gateway.
// RFC 4443 §3.1 code 1 for IPv6.
std::optional<DropReason> Pipeline::refuse(const Client& c, const packet::Parsed& p, DropReason why) {
  // While saved connections wait for the rules (restore(), adopt_saved()), nothing is answered:
  // a RST to a segment of one of them would end the connection the restart is to keep.
  const bool awaiting_rules = saved_ && !adopting_;
  if (!cfg_.reject || awaiting_rules || !p.has_l4 || nat::is_icmp_error(p)) return why;
  const std::span<const std::byte> f(frame_.data(), p.l3_end);
  std::size_t n = 0;
  if (p.proto == tcp) {
    if (!(p.tcp_flags & kRst)) n = packet::tcp_rst(reply_, f, p);
  } else if (p.l3 == packet::L3::ipv4) {
    n = packet::icmp4_error(reply_, f, p, cfg_.gateway, 3, 13);
  } else if (cfg_.gateway6) {
    n = packet::icmp6_error(reply_, f, p, *cfg_.gateway6, 1, 1);
  }
  if (n) out_.to_vif(c.id, std::span(reply_.data(), n));
  return why;
}

// The client answers a packet of one of its flows with an ICMP error (e.g. port unreachable).
std::optional<DropReason> Pipeline::client_icmp_error(const Client& c, packet::Parsed& p, int64_t now) {
  const std::span<std::byte> f(frame_.data(), p.l3_end);
  auto q = nat::quoted(f, p);
  if (!q) return DropReason::icmp_error_no_flow;
  const nat::Key qk = nat::key_of(*q);  // remote -> client: the reply direction, un-NATed
  const uint32_t id = ct_.find_orig(nat::Key{qk.dst, qk.src, qk.dport, qk.sport, qk.proto, qk.v6}, now);
  if (id == nat::ConnTrack::kNone || ct_.flow(id).vif_slot != c.id.slot) return DropReason::icmp_error_no_flow;
  const nat::Flow& fl = ct_.flow(id);
  nat::translate_quoted(f, *q, fl.nat_dst, fl.orig.dport, ct_.uplink(fl.orig.v6), fl.nat_port);
  nat::set_src(f, p, ct_.uplink(fl.orig.v6), 0);
  nat::complete_checksum(f, p);
  return send_uplink(p);
}

std::optional<DropReason> Pipeline::send_uplink(packet::Parsed& p, uint16_t gso_size) {
  const auto& next_hop = p.l3 == packet::L3::ipv6 ? gateway6_mac_ : gateway_mac_;
  if (!next_hop) return DropReason::uplink_gateway_unknown;
  const std::span<std::byte> f(frame_.data(), p.l3_end);
  if (!nat::decrement_ttl(f, p)) return DropReason::ttl_exceeded;
  set_macs(f, *next_hop, cfg_.uplink_mac, p);
  if (is_super_frame(p)) packet::set_partial_checksum(f, p);
  out_.to_uplink(f, gso_size);
  return std::nullopt;
}

// ---- from the uplink --------------------------------------------------------------------

std::optional<DropReason> Pipeline::from_uplink(std::span<const std::byte> frame, int64_t now,
                                                bool csum_blank, bool csum_valid) {
  if (frame.size() > buf_.size()) return DropReason::malformed;
  std::memcpy(buf_.data(), frame.data(), frame.size());
  return from_uplink_in_place(std::span(buf_.data(), frame.size()), now, csum_blank, csum_valid);
}

std::optional<DropReason> Pipeline::from_uplink_in_place(std::span<std::byte> frame, int64_t now,
                                                         bool csum_blank, bool csum_valid) {
  if (frame.size() > kMaxFrame) return DropReason::malformed;
  frame_ = frame;
  auto parsed = packet::parse(frame);
  if (!std::holds_alternative<packet::Parsed>(parsed)) return DropReason::malformed;
  packet::Parsed& p = std::get<packet::Parsed>(parsed);
  const bool v6 = p.l3 == packet::L3::ipv6;
  if (p.l3 == packet::L3::other) return DropReason::unsupported_ethertype;
  if (!is_group(p.dst_mac) && p.dst_mac != cfg_.uplink_mac) return DropReason::eth_dst_other;
  if (v6 ? !cfg_.uplink_addr6 : !cfg_.uplink_addr) return DropReason::uplink_unconfigured;
  if (p.l3 == packet::L3::arp) return uplink_arp(p, now);
  if (v6 && p.proto == icmpv6 && p.has_l4 && p.ttl == 255 && p.icmp_type >= 133 && p.icmp_type <= 137)
    return uplink_ndp(p);
  if (is_group(p.dst_mac)) return DropReason::eth_dst_group;
  if (v6 ? p.dst6 != *cfg_.uplink_addr6 : p.dst4 != *cfg_.uplink_addr) return DropReason::uplink_not_for_us;
  if (client_by_addr(nat::src_of(p)) || known_clients_.count(nat::src_of(p).b))
    return DropReason::uplink_from_client_address;
  if (p.refused_option) return DropReason::ip_option_refused;
  if (csum_blank && !is_super_frame(p)) nat::complete_checksum(std::span(frame_.data(), p.l3_end), p);
  if (const auto why = not_trackable(std::span(frame_.data(), p.l3_end), p, csum_blank || csum_valid)) return *why;
  if (!v6 && p.proto == udp && p.has_l4 && !p.fragment && p.sport == 53 && HostResolver::is_our_port(p.dport))
    return dns_response(p, now);
  if (p.later_fragment) return uplink_fragment(p, now);
  if (nat::is_icmp_error(p)) return uplink_icmp_error(p, now);
  if (p.fragment && !v6 && frags_in_.started(p, now)) return DropReason::fragment_overlap;

  const uint32_t id = ct_.find_reply(nat::key_of(p), now);
  if (id == nat::ConnTrack::kNone) return DropReason::uplink_no_flow;
  if (p.proto == tcp && !p.fragment && !ct_.in_window(id, false, segment_of(p))) return DropReason::tcp_out_of_window;
  ct_.seen(id, false, p.tcp_flags, now);
  if (p.fragment) frags_in_.remember(p, id, now);
  const nat::Flow& fl = ct_.flow(id);
  const std::span<std::byte> f(frame_.data(), p.l3_end);
  nat::set_dst(f, p, fl.orig.src, fl.orig.sport);
  if (!(fl.nat_dst == fl.orig.dst)) nat::set_src(f, p, fl.orig.dst, fl.orig.dport);  // DNS
  return send_client(id, p);
}

std::optional<DropReason> Pipeline::uplink_fragment(packet::Parsed& p, int64_t now) {
  const uint32_t id = frags_in_.follow(p, now);
  if (id == nat::Fragments::kOverlap) return DropReason::fragment_overlap;
  if (id == nat::ConnTrack::kNone || !ct_.flow(id).live || !(ct_.flow(id).nat_dst == nat::src_of(p)))
    return DropReason::fragment_no_flow;
  const nat::Flow& fl = ct_.flow(id);
  const std::span<std::byte> f(frame_.data(), p.l3_end);
  nat::set_dst(f, p, fl.orig.src, 0);
  if (!(fl.nat_dst == fl.orig.dst)) nat::set_src(f, p, fl.orig.dst, 0);
  return send_client(id, p);
}

std::optional<DropReason> Pipeline::uplink_icmp_error(packet::Parsed& p, int64_t now) {
  const std::span<std::byte> f(frame_.data(), p.l3_end);
  auto q = nat::quoted(f, p);
  if (!q) return DropReason::icmp_error_no_flow;
  const nat::Key qk = nat::key_of(*q);  // uplink -> remote: what we sent
  const uint32_t id = ct_.find_reply(nat::Key{qk.dst, qk.src, qk.dport, qk.sport, qk.proto, qk.v6}, now);
  if (id == nat::ConnTrack::kNone) return DropReason::icmp_error_no_flow;
  const nat::Flow& fl = ct_.flow(id);
  nat::translate_quoted(f, *q, fl.orig.src, fl.orig.sport, fl.orig.dst, fl.orig.dport);
  if (nat::src_of(p) == fl.nat_dst && !(fl.nat_dst == fl.orig.dst)) nat::set_src(f, p, fl.orig.dst, 0);
  nat::set_dst(f, p, fl.orig.src, 0);
  nat::complete_checksum(f, p);
  return send_client(id, p);
}

std::optional<DropReason> Pipeline::send_client(uint32_t flow_id, packet::Parsed& p) {
  const nat::Flow& fl = ct_.flow(flow_id);
  if (fl.vif_slot >= clients_.size() || !clients_[fl.vif_slot] ||
      clients_[fl.vif_slot]->id.gen != fl.vif_gen)
    return DropReason::vif_gone;
  const Client& c = *clients_[fl.vif_slot];
  const std::span<std::byte> f(frame_.data(), p.l3_end);
  if (!nat::decrement_ttl(f, p)) return DropReason::ttl_exceeded;
  set_macs(f, c.mac, kGatewayMac, p);
  if (is_super_frame(p)) packet::set_partial_checksum(f, p);
  out_.to_vif(c.id, f);
  return std::nullopt;
}

}  // namespace xfw::firewall
