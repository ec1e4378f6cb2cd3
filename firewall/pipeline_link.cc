// firewall/pipeline_link.cc — Pipeline's own traffic on the uplink: ARP and NDP for its address
// and the gateway's, and the DNS queries for dsthost names (firewall/host_resolver.h).
#include "firewall/pipeline.h"

namespace xfw::firewall {

// The uplink address is ours alone (the kernel has no address there): answer who-has for it
// and learn the gateway's MAC from whatever ARP it sends.
std::optional<DropReason> Pipeline::uplink_arp(const packet::Parsed& p, int64_t now) {
  if (cfg_.uplink_gateway && p.arp_spa == *cfg_.uplink_gateway && p.arp_sha != packet::MacAddr{}) {
    gateway_mac_ = p.arp_sha;
    gateway_heard_ = now;
  }
  if (p.arp_op == 1 && p.arp_tpa == *cfg_.uplink_addr) {
    out_.to_uplink(std::span(reply_.data(), packet::arp_reply(reply_, p, cfg_.uplink_mac)), 0);
    return std::nullopt;
  }
  if (p.arp_op == 2 && p.arp_tpa == *cfg_.uplink_addr) return std::nullopt;  // learned above
  return DropReason::uplink_not_for_us;
}

// The same for IPv6 (RFC 4861): answer solicitations for our uplink address, learn the
// gateway's MAC from any neighbor discovery message it sends.
std::optional<DropReason> Pipeline::uplink_ndp(const packet::Parsed& p) {
  if (cfg_.uplink_gateway6 && p.src6 == *cfg_.uplink_gateway6) gateway6_mac_ = p.src_mac;
  if (p.icmp_type == 135 && p.has_nd_target && p.nd_target == *cfg_.uplink_addr6) {
    out_.to_uplink(std::span(reply_.data(), packet::ndp_na(reply_, p, cfg_.uplink_mac)), 0);
    return std::nullopt;
  }
  return p.icmp_type == 136 && p.has_nd_target ? std::nullopt : std::optional{DropReason::nd_ignored};
}

void Pipeline::tick(int64_t now) {
  ct_.sweep(now, 4096);
  if (adopting_ && now >= adopt_until_) {  // the vifs that were to come back did not
    adopt_stats_.abandoned += adopt_stats_.waiting;
    adopt_stats_.waiting = 0;
    adopting_ = false;
    saved_.reset();
  }
  if (cfg_.uplink_addr && cfg_.uplink_gateway && now >= next_arp_) {
    out_.to_uplink(std::span(reply_.data(), packet::arp_request(reply_, cfg_.uplink_mac,
                                                                 *cfg_.uplink_addr,
                                                                 *cfg_.uplink_gateway)), 0);
    next_arp_ = now + (gateway_mac_ ? 60'000 : 1'000);
  }
  if (cfg_.uplink_addr6 && cfg_.uplink_gateway6 && now >= next_ns_) {
    out_.to_uplink(std::span(reply_.data(), packet::ndp_ns(reply_, cfg_.uplink_mac, *cfg_.uplink_addr6,
                                                            *cfg_.uplink_gateway6)), 0);
    next_ns_ = now + (gateway6_mac_ ? 60'000 : 1'000);
  }
  send_queries(now);
}

// xfwd's own DNS queries for dsthost names, from its uplink address.
void Pipeline::send_queries(int64_t now) {
  if (!cfg_.uplink_addr || !gateway_mac_) return;
  std::byte msg[512];
  for (const auto& q : resolver_.due(now, cfg_.resolvers)) {
    const std::size_t n = dns::build_query(msg, q.id, q.name, q.qtype);
    if (n == 0) continue;
    out_.to_uplink(std::span(reply_.data(), packet::udp4(reply_, cfg_.uplink_mac, *gateway_mac_, *cfg_.uplink_addr,
                                                         q.server, q.sport, 53, std::span(msg, n))), 0);
  }
}

void Pipeline::probe_resolvers(int64_t now) {
  probes_.clear();
  std::byte msg[512];
  for (const auto& server : cfg_.resolvers) {
    DnsProbe pr;
    pr.server = server;
    ++probe_seq_;
    pr.id = uint16_t(0x5800 + probe_seq_);
    pr.sport = uint16_t(HostResolver::kPortLo + 4000 + probe_seq_ % 500);  // beside the resolver's own
    const std::size_t n = dns::build_query(msg, pr.id, "localhost", dns::kTypeA);
    if (cfg_.uplink_addr && gateway_mac_ && n > 0) {
      out_.to_uplink(std::span(reply_.data(), packet::udp4(reply_, cfg_.uplink_mac, *gateway_mac_, *cfg_.uplink_addr,
                                                           server, pr.sport, 53, std::span(msg, n))), 0);
      pr.sent = now;
    }
    probes_.push_back(pr);
  }
}

std::optional<DropReason> Pipeline::dns_response(const packet::Parsed& p, int64_t now) {
  const auto msg = std::span<const std::byte>(frame_.data() + p.l4_off + 8, p.l4_len() - 8u);
  const auto r = dns::parse_response(msg);
  if (!r) return DropReason::dns_response_bad;
  for (auto& pr : probes_)  // an answer to diagnose's question: from the server asked, to our port
    if (pr.sent && !pr.answered && pr.server == p.src4 && pr.sport == p.dport && pr.id == r->id && r->name == "localhost") {
      pr.answered = now;
      pr.rcode = r->rcode;
      return std::nullopt;
    }
  auto changed = resolver_.on_response(*r, p.src4, p.dport, now);
  if (!changed) return DropReason::dns_response_bad;
  set_resolved(changed->first, std::move(changed->second));
  return std::nullopt;
}

}  // namespace xfw::firewall
