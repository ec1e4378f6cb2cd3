#include "packet/describe.h"

#include <cstdio>

#include "packet/parse.h"

namespace xfw::packet {

std::string describe(std::span<const std::byte> frame) {
  const auto r = parse(frame);
  if (const auto* e = std::get_if<ParseError>(&r)) return std::string("malformed: ") + name(*e);
  const auto& p = std::get<Parsed>(r);
  if (p.l3 == L3::arp) return (p.arp_op == 1 ? "arp who-has " : "arp reply ") + p.arp_tpa.str();
  if (p.l3 == L3::other) {
    char s[24];
    std::snprintf(s, sizeof s, "ethertype %#06x", unsigned(p.ethertype));
    return s;
  }
  const bool v6 = p.l3 == L3::ipv6;
  const std::string src = v6 ? p.src6.str() : p.src4.str(), dst = v6 ? p.dst6.str() : p.dst4.str();
  auto ep = [&](const std::string& a, uint16_t port) { return v6 ? "[" + a + "]:" + std::to_string(port) : a + ":" + std::to_string(port); };
  switch (p.proto) {
    case ipproto::tcp:
    case ipproto::udp:
      if (p.has_l4)
        return std::string(p.proto == ipproto::tcp ? "tcp " : "udp ") + ep(src, p.sport) + " -> " + ep(dst, p.dport);
      break;
    case ipproto::icmp:
    case ipproto::icmpv6:
      if (p.has_l4)
        return std::string(v6 ? "icmpv6 " : "icmp ") + src + " -> " + dst + " type " + std::to_string(p.icmp_type);
      break;
  }
  return "proto " + std::to_string(p.proto) + " " + src + " -> " + dst;
}

}  // namespace xfw::packet
