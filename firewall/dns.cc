#include "firewall/dns.h"

#include <algorithm>

#include "packet/bytes.h"

namespace xfw::firewall::dns {
namespace {

using packet::rd16;
using packet::rd32;

// Reads a (possibly compressed) name at `off`; returns the offset just after it in the
// message (not after the pointer's target), or nullopt.
std::optional<std::size_t> read_name(std::span<const std::byte> m, std::size_t off, std::string& out) {
  out.clear();
  std::optional<std::size_t> end;
  for (int jumps = 0;;) {
    if (off >= m.size()) return std::nullopt;
    const auto len = uint8_t(m[off]);
    if (len == 0) {
      if (!end) end = off + 1;
      return end;
    }
    if ((len & 0xC0) == 0xC0) {  // RFC 1035 §4.1.4: a pointer to an earlier name
      if (off + 1 >= m.size() || ++jumps > 16) return std::nullopt;
      const std::size_t target = std::size_t(len & 0x3F) << 8 | uint8_t(m[off + 1]);
      if (target >= off) return std::nullopt;  // only backwards: no loops
      if (!end) end = off + 2;
      off = target;
      continue;
    }
    if (len > 63 || off + 1 + len > m.size() || out.size() + len + 1 > 255) return std::nullopt;
    if (!out.empty()) out += '.';
    for (std::size_t i = 0; i < len; ++i) {
      const auto c = char(m[off + 1 + i]);
      out += (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c;
    }
    off += 1 + len;
  }
}

bool valid_label_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

}  // namespace

std::size_t build_query(std::span<std::byte> out, uint16_t id, std::string_view name, uint16_t qtype) {
  if (name.empty() || name.size() > 253 || out.size() < 512) return 0;
  std::byte* o = out.data();
  packet::wr16(o, id);
  packet::wr16(o + 2, 0x0100);  // standard query, recursion desired
  packet::wr16(o + 4, 1);       // one question
  packet::wr16(o + 6, 0);
  packet::wr16(o + 8, 0);
  packet::wr16(o + 10, 0);
  std::size_t n = 12;
  std::size_t start = 0;
  while (start <= name.size()) {
    const std::size_t dot = std::min(name.find('.', start), name.size());
    const std::size_t len = dot - start;
    if (len == 0 || len > 63) return 0;
    o[n++] = std::byte(len);
    for (std::size_t i = start; i < dot; ++i) {
      if (!valid_label_char(name[i])) return 0;
      o[n++] = std::byte(name[i]);
    }
    start = dot + 1;
  }
  o[n++] = std::byte{0};
  packet::wr16(o + n, qtype);
  packet::wr16(o + n + 2, 1);  // class IN
  return n + 4;
}

std::optional<Response> parse_response(std::span<const std::byte> m) {
  if (m.size() < 12) return std::nullopt;
  Response r;
  r.id = rd16(m.data());
  const uint16_t flags = rd16(m.data() + 2);
  if (!(flags & 0x8000) || (flags & 0x7800) != 0) return std::nullopt;  // a response to a QUERY
  if (flags & 0x0200) return std::nullopt;  // truncated: not trusted (no partial answers)
  r.rcode = uint8_t(flags & 0x000F);
  const uint16_t qd = rd16(m.data() + 4), an = rd16(m.data() + 6);
  if (qd != 1) return std::nullopt;
  auto off = read_name(m, 12, r.name);
  if (!off || *off + 4 > m.size()) return std::nullopt;
  r.qtype = rd16(m.data() + *off);
  if (rd16(m.data() + *off + 2) != 1) return std::nullopt;
  std::size_t pos = *off + 4;

  std::vector<std::string> owners{r.name};  // the name and the CNAME targets met so far
  std::string owner, target;
  bool any = false;
  r.ttl = UINT32_MAX;
  for (uint16_t i = 0; i < an; ++i) {
    const auto after = read_name(m, pos, owner);
    if (!after || *after + 10 > m.size()) return std::nullopt;
    const uint16_t type = rd16(m.data() + *after), cls = rd16(m.data() + *after + 2);
    const uint32_t ttl = rd32(m.data() + *after + 4);
    const uint16_t rdlen = rd16(m.data() + *after + 8);
    const std::size_t rdata = *after + 10;
    if (rdata + rdlen > m.size()) return std::nullopt;
    pos = rdata + rdlen;
    if (cls != 1 || std::find(owners.begin(), owners.end(), owner) == owners.end()) continue;
    if (type == kTypeCNAME) {
      if (!read_name(m, rdata, target) || owners.size() >= 8) return std::nullopt;
      owners.push_back(target);
      continue;
    }
    if (type == kTypeA && rdlen == 4 && r.qtype == kTypeA) {
      packet::Ipv4Addr a;
      for (int k = 0; k < 4; ++k) a.b[k] = uint8_t(m[rdata + k]);
      r.v4.push_back(a);
    } else if (type == kTypeAAAA && rdlen == 16 && r.qtype == kTypeAAAA) {
      packet::Ipv6Addr a;
      for (int k = 0; k < 16; ++k) a.b[k] = uint8_t(m[rdata + k]);
      r.v6.push_back(a);
    } else {
      continue;
    }
    any = true;
    r.ttl = std::min(r.ttl, ttl);
  }
  if (!any) r.ttl = 0;
  return r;
}

}  // namespace xfw::firewall::dns
