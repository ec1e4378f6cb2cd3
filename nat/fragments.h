// nat/fragments.h — which flow the later fragments of an IPv4 packet belong to (RFC 791).
//
// Only the first fragment carries the ports, so NAT remembers, when it passes a first
// fragment, the packet's (source, destination, identification, protocol) and the flow; later
// fragments with the same four values get the same address rewrite. Fragments are forwarded
// as they come, never reassembled, so memory is bounded by a fixed table (direct-mapped, a
// newer packet replaces an older one in its slot; entries live 5 s). A later fragment that
// arrives before its first one, or after its entry was replaced, is dropped
// (fragment_no_flow): the sender's retransmission or path-MTU discovery recovers.
// Overlaps are refused as Linux's reassembly refuses them (RFC 5722, and IPv4 since Linux
// 4.19): each slot keeps the byte ranges already passed; a later fragment that overlaps one of
// them ends its packet (the slot is cleared, follow() says kOverlap), and so does a second
// first fragment (the caller checks started()). Ranges are merged; a packet that arrives in
// more than kRanges separate pieces at once is refused the same way.
#pragma once

#include <algorithm>
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

  static constexpr uint32_t kOverlap = ConnTrack::kNone - 1;
  static constexpr std::size_t kRanges = 4;

  // A first fragment passed for `flow`.
  void remember(const packet::Parsed& p, uint32_t flow, int64_t now) {
    seen_[put(Entry{p.src4, p.dst4, p.frag_id, p.proto, flow, now + kLifetimeMs})] = Seen{{Range{0, fragment_end(p)}}, 1};
  }
  // Has this first fragment's packet started already (a second first fragment)?
  [[nodiscard]] bool started(const packet::Parsed& p, int64_t now) const {
    return find(index(p.src4, p.dst4, p.frag_id, p.proto), p, now) != ConnTrack::kNone;
  }
  // A later fragment: the flow its first fragment belonged to (and its range is noted), or
  // ConnTrack::kNone, or kOverlap (the packet is forgotten).
  [[nodiscard]] uint32_t follow(const packet::Parsed& p, int64_t now) {
    const std::size_t i = index(p.src4, p.dst4, p.frag_id, p.proto);
    const uint32_t flow = find(i, p, now);
    if (flow == ConnTrack::kNone) return flow;
    if (!seen_[i].add(Range{p.frag_offset, fragment_end(p)})) {
      table_[i] = Entry{};
      return kOverlap;
    }
    return flow;
  }
  // What a restart keeps (daemon/state_file.h): the entries still alive, and putting them back.
  template <class F>
  void for_each(int64_t now, F&& f) const {
    for (const Entry& e : table_)
      if (e.expires > now && e.flow != ConnTrack::kNone) f(e);
  }
  // Returns the slot it went to.
  std::size_t put(const Entry& e) {
    const std::size_t i = index(e.src, e.dst, e.id, e.proto);
    table_[i] = e;
    seen_[i] = Seen{};
    return i;
  }

 private:
  struct Range {
    uint32_t lo = 0, hi = 0;  // bytes of the fragmentable part, [lo, hi)
  };
  struct Seen {
    std::array<Range, kRanges> r{};
    std::size_t n = 0;
    // Notes `x`, merged with the ranges it touches; false if it overlaps one or no room is left.
    bool add(Range x) {
      for (std::size_t k = 0; k < n; ++k)
        if (x.lo < r[k].hi && r[k].lo < x.hi) return false;
      for (std::size_t k = 0; k < n;) {
        if (r[k].hi == x.lo || x.hi == r[k].lo) {  // adjacent: merge and look again
          x = Range{std::min(x.lo, r[k].lo), std::max(x.hi, r[k].hi)};
          r[k] = r[--n];
          k = 0;
        } else {
          ++k;
        }
      }
      if (n == kRanges) return false;
      r[n++] = x;
      return true;
    }
  };
  static uint32_t fragment_end(const packet::Parsed& p) { return uint32_t(p.frag_offset) + (p.l3_end - p.l4_off); }
  [[nodiscard]] uint32_t find(std::size_t i, const packet::Parsed& p, int64_t now) const {
    const Entry& e = table_[i];
    if (e.expires <= now || e.src != p.src4 || e.dst != p.dst4 || e.id != p.frag_id || e.proto != p.proto)
      return ConnTrack::kNone;
    return e.flow;
  }
  static std::size_t index(packet::Ipv4Addr src, packet::Ipv4Addr dst, uint32_t id, uint8_t proto) {
    uint32_t h = src.to_host() * 0x9E3779B1u ^ dst.to_host() * 0x85EBCA77u ^ id * 0xC2B2AE3Du ^ proto;
    return (h ^ (h >> 15)) % kSlots;
  }
  std::array<Entry, kSlots> table_{};
  std::array<Seen, kSlots> seen_{};
};

}  // namespace xfw::nat
