// firewall/dns.h — the DNS messages xfwd itself sends and reads: queries for the addresses of
// `dsthost=` names, and their responses (RFC 1035 §4, AAAA: RFC 3596).
//
// The response parser treats every byte as hostile: every length and offset is checked, name
// compression pointers must point backwards and are followed at most 16 times, and only A and
// AAAA records in the answer section whose owner is the queried name or a CNAME target of it
// (RFC 1034 §3.6.2) are used.
//   std::size_t n = build_query(buf, id, "updates.example", kTypeA);
//   if (auto a = parse_response(msg)) { a->id, a->v4, a->ttl ... }
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "packet/addr.h"

namespace xfw::firewall::dns {

inline constexpr uint16_t kTypeA = 1, kTypeAAAA = 28, kTypeCNAME = 5;

// The query message (no UDP/IP headers) into `out` (>= 512 bytes); 0 if `name` is not a host
// name (labels of 1..63 characters of [a-z0-9-_], 253 at most in all).
std::size_t build_query(std::span<std::byte> out, uint16_t id, std::string_view name, uint16_t qtype);

struct Response {
  uint16_t id = 0;
  uint8_t rcode = 0;       // 0 = no error, 3 = NXDOMAIN
  std::string name;        // the question, lower case
  uint16_t qtype = 0;
  std::vector<packet::Ipv4Addr> v4;
  std::vector<packet::Ipv6Addr> v6;
  uint32_t ttl = 0;        // the smallest TTL of the records used
};

[[nodiscard]] std::optional<Response> parse_response(std::span<const std::byte> msg);

}  // namespace xfw::firewall::dns
