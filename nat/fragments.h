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

  struct Entry {
    packet::Ipv4Addr src, dst;
    uint32_t id = 0;
    uint8_t proto = 0;
    uint32_t flow = ConnTrack::kNone;
    int64_t expires = 0;
    friend bool operator==(const Entry&, const Entry&) = default;
  };

  void remember(const packet::Parsed& p, uint32_t flow, int64_t now) {
    put(Entry{p.src4, p.dst4, p.frag_id, p.proto, flow, now + kLifetimeMs});
  }
  // The flow of a later fragment, or ConnTrack::kNone.
  [[nodiscard]] uint32_t find(const packet::Parsed& p, int64_t now) const {
    const Entry& e = table_[index(p.src4, p.dst4, p.frag_id, p.proto)];
    if (e.expires <= now || e.src != p.src4 || e.dst != p.dst4 || e.id != p.frag_id || e.proto != p.proto)
      return ConnTrack::kNone;
    return e.flow;
  }
  // What a restart keeps (daemon/state_file.h): the entries still alive, and putting them back.
  template <class F>
  void for_each(int64_t now, F&& f) const {
    for (const Entry& e : table_)
      if (e.expires > now && e.flow != ConnTrack::kNone) f(e);
  }
  void put(const Entry& e) { table_[index(e.src, e.dst, e.id, e.proto)] = e; }

 private:
  static std::size_t index(packet::Ipv4Addr src, packet::Ipv4Addr dst, uint32_t id, uint8_t proto) {
    uint32_t h = src.to_host() * 0x9E3779B1u ^ dst.to_host() * 0x85EBCA77u ^ id * 0xC2B2AE3Du ^ proto;
    return (h ^ (h >> 15)) % kSlots;
  }
  std::array<Entry, kSlots> table_{};
};

}  // namespace xfw::nat
