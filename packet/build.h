// packet/build.h — frame builders for the replies the firewall itself sends.
//
// Each writes a complete Ethernet frame into `out` (which must hold kMaxReply bytes) and
// returns its length; checksums are complete. Inputs are frames already accepted by parse().
//   arp_reply        RFC 826 reply: "tpa is at our_mac"; arp_request: who-has
//   icmp_echo_reply  RFC 792 echo reply (IPv4) to an echo request, from its destination
//   icmp4_error      RFC 792 / RFC 1812 §4.3.2.3 error quoting the offending packet (as much
//                    as fits in 576 bytes of IP), e.g. type 3 code 13 "administratively
//                    prohibited", type 11 code 0 "TTL exceeded"
//   tcp_rst          RFC 9293 §3.10.7.1 reset answering a segment
#pragma once

#include <cstddef>
#include <span>

#include "packet/parse.h"

namespace xfw::packet {

inline constexpr std::size_t kMaxReply = 14 + 576;

std::size_t arp_reply(std::span<std::byte> out, const Parsed& request, MacAddr our_mac);
// A broadcast who-has `target` from our_mac/our_ip (RFC 826).
std::size_t arp_request(std::span<std::byte> out, MacAddr our_mac, Ipv4Addr our_ip, Ipv4Addr target);
std::size_t icmp_echo_reply(std::span<std::byte> out, std::span<const std::byte> request,
                            const Parsed& p);
std::size_t icmp4_error(std::span<std::byte> out, std::span<const std::byte> offending,
                        const Parsed& p, Ipv4Addr from, uint8_t type, uint8_t code);
// An Ethernet + IPv4 + UDP frame carrying `payload` (the UDP checksum is computed); `out` must
// hold 42 + payload bytes.
std::size_t udp4(std::span<std::byte> out, MacAddr src_mac, MacAddr dst_mac, Ipv4Addr src,
                 Ipv4Addr dst, uint16_t sport, uint16_t dport, std::span<const std::byte> payload);
std::size_t tcp_rst(std::span<std::byte> out, std::span<const std::byte> segment, const Parsed& p);

// IPv6 (RFC 8200, RFC 4443, RFC 4861):
//   icmp6_echo_reply  echo reply to an echo request, from its destination
//   icmp6_error       error quoting the offending packet (within 576 bytes of IPv6),
//                     e.g. type 1 code 1 "administratively prohibited", type 3 "time exceeded"
//   ndp_na            neighbor advertisement answering a solicitation: "target is at our_mac"
//   ndp_ns            neighbor solicitation for `target`, to its solicited-node multicast group
std::size_t icmp6_echo_reply(std::span<std::byte> out, std::span<const std::byte> request,
                             const Parsed& p);
std::size_t icmp6_error(std::span<std::byte> out, std::span<const std::byte> offending,
                        const Parsed& p, const Ipv6Addr& from, uint8_t type, uint8_t code);
std::size_t ndp_na(std::span<std::byte> out, const Parsed& solicitation, MacAddr our_mac);
std::size_t ndp_ns(std::span<std::byte> out, MacAddr our_mac, const Ipv6Addr& our_ip,
                   const Ipv6Addr& target);

}  // namespace xfw::packet
