// nat/fragments.h — which flow the later fragments of an IPv4 packet belong to (RFC 791).
//
// Only the first fragment carries the ports, so NAT remembers, when it passes a first
// fragment, the packet's (source, destination, identification, protocol) and the flow; later
// fragments with the same four values get the same address rewrite. Fragments are forwarded
// as they come, never reassembled, so memory is bounded by a fixed table (direct-mapped, a
// newer packet replaces an older one in its slot; entries live 5 s). A later fragment that
// arrives before its first one, or after its entry was replaced, is dropped
// (fragment_no_flow): the sender's retransmission or path-MTU discovery recovers.
#pragma once

#include <array>
#include <cstdint>

#include "nat/conntrack.h"
#include "packet/parse.h"

namespace xfw::nat {

class Fragments {
 public:
  static constexpr std::size_t kSlots = 1024;
  static constexpr int64_t kLifetimeMs = 5000;

  void remember(const packet::Parsed& p, uint32_t flow, int64_t now) {
    Entry& e = slot(p);
    e = Entry{p.src4, p.dst4, p.frag_id, p.proto, flow, now + kLifetimeMs};
  }
  // The flow of a later fragment, or ConnTrack::kNone.
  [[nodiscard]] uint32_t find(const packet::Parsed& p, int64_t now) const {
    const Entry& e = table_[index(p)];
    if (e.expires <= now || e.src != p.src4 || e.dst != p.dst4 || e.id != p.frag_id || e.proto != p.proto)
      return ConnTrack::kNone;
    return e.flow;
  }

 private:
  struct Entry {
    packet::Ipv4Addr src, dst;
    uint32_t id = 0;
    uint8_t proto = 0;
    uint32_t flow = ConnTrack::kNone;
    int64_t expires = 0;
  };
  static std::size_t index(const packet::Parsed& p) {
    uint32_t h = p.src4.to_host() * 0x9E3779B1u ^ p.dst4.to_host() * 0x85EBCA77u ^ p.frag_id * 0xC2B2AE3Du ^ p.proto;
    return (h ^ (h >> 15)) % kSlots;
  }
  Entry& slot(const packet::Parsed& p) { return table_[index(p)]; }
  std::array<Entry, kSlots> table_{};
};

}  // namespace xfw::nat
