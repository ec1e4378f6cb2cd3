// nat/icmp_error.h — ICMP errors about NATed flows (RFC 5508 §7, RFC 792, RFC 4443 §2.4).
//
// An error such as "port unreachable" or "time exceeded" quotes the start of the packet that
// caused it. When that packet was NATed, the quoted headers name the translated addresses, so
// the error is translated as well: its outer destination (or source) and the quoted packet's
// source and destination, with the quoted IP checksum updated and the outer ICMP checksum
// recomputed. quoted() parses the quoted packet with bounds checks (IPv4 with options; IPv6
// without extension headers; at least 8 transport bytes, as RFC 792 guarantees).
//   if (auto q = quoted(frame, p)) { Key k = key_of(*q); ... translate_quoted(...); }
#pragma once

#include <optional>
#include <span>

#include "nat/conntrack.h"
#include "packet/parse.h"

namespace xfw::nat {

// True for ICMP destination unreachable, time exceeded, parameter problem (and source quench);
// ICMPv6 destination unreachable, packet too big, time exceeded, parameter problem.
[[nodiscard]] bool is_icmp_error(const packet::Parsed& p);

// The quoted packet as a Parsed view (l3_end = end of the quoted bytes), or nullopt.
[[nodiscard]] std::optional<packet::Parsed> quoted(std::span<const std::byte> frame,
                                                   const packet::Parsed& p);

// Rewrites the quoted packet's source and destination (address and port / echo identifier),
// updating the quoted IP header checksum and the quoted transport checksum when it was quoted
// (UDP, ICMP; TCP's lies beyond the 8 bytes RFC 792 guarantees); the caller rewrites the outer header and then calls
// packet-level complete_checksum() on the outer ICMP message.
void translate_quoted(std::span<std::byte> frame, packet::Parsed& q, const Addr& src,
                      uint16_t sport, const Addr& dst, uint16_t dport);

}  // namespace xfw::nat
