// nat/conntrack.h — the connection table behind NAPT (masquerade) and DNS redirect.
//
// Theory of operation. A flow is created by the first packet a client sends that the rules
// accept. It is found again from two directions:
//   original  (as the client sent it)  client:sport  -> dst:dport
//   reply     (as it comes back)       nat_dst:dport -> uplink:nat_port
// `nat_dst` equals `dst` except for DNS redirect, where it is the real resolver. Both keys live
// in chained hash tables over one preallocated slab of Flow records, so lookups cost the same at
// 1 k and 1 M flows and a flow costs sizeof(Flow) + 2 bucket heads (see kBytesPerFlow).
// ICMP echo: the identifier plays the source port; the reply key carries it as the
// destination port (an echo reply comes back with the mapped identifier).
//
// Limits: a global maximum and one per vif, so one VM cannot exhaust the table for the others
// (its new flows are dropped with conntrack_vif_limit). Each vif's flows are on a list of
// their own, so a VM at its limit reclaims only its own expired flows (work bounded by its
// limit) and a VM that goes away takes only its flows along. Expiry is otherwise lazy (a
// lookup frees an expired flow) plus sweep(now, budget), which the daemon calls from its timer.
// TCP: a new flow must start with a SYN; states follow RFC 9293's handshake and FIN/RST with
// the timeouts of Linux's conntrack, and each segment must lie within the connection's window
// as nf_conntrack_tcp checks it (in_window()).
// Pure: no I/O, the clock (`now`, milliseconds) and the port-choice seed are passed in.
#pragma once

#include <array>
#include <cstdint>
#include <memory>

#include "nat/huge_array.h"
#include <optional>
#include <variant>
#include <vector>

namespace xfw::nat {

struct Addr {  // an IPv4 address is stored in the first 4 bytes, the rest zero
  std::array<uint8_t, 16> b{};
  friend bool operator==(const Addr&, const Addr&) = default;
};

struct Key {
  Addr src, dst;
  uint16_t sport = 0, dport = 0;
  uint8_t proto = 0;
  bool v6 = false;
  friend bool operator==(const Key&, const Key&) = default;
};

enum class TcpState : uint8_t { none, syn_sent, syn_recv, established, fin_wait, closing, closed };

// One side of a TCP connection, as nf_conntrack_tcp follows it (tcp_in_window(), be_liberal
// off): what it sent, the largest window it offered, the highest ack it sent. What it may send
// (conntrack's td_maxend) is the other side's highest ack plus its largest window — never less
// than conntrack's bound, which is the largest ack + window seen. 12 bytes a side; the scale
// and flags are a byte each in Flow (the whole flow stays within 120 bytes).
struct TcpWindow {
  uint32_t end = 0;     // its highest sequence number sent, plus the segment's length
  uint32_t maxwin = 0;  // the largest window it advertised (scaled); 0: nothing seen from it yet
  uint32_t maxack = 0;  // the highest ack it sent (when TcpScale::ack_seen)
  friend bool operator==(const TcpWindow&, const TcpWindow&) = default;
};
struct TcpScale {
  uint8_t scale : 4 = 0;     // its window scale (RFC 7323), when both sides offered one
  bool offered : 1 = false;  // it offered a window scale in its SYN
  bool ack_seen : 1 = false;
  // Picked up in the middle (adopted after a restart): its window scale is unknown, so, as
  // conntrack does with a connection it picks up, its windows are not checked.
  bool liberal : 1 = false;
  friend bool operator==(const TcpScale&, const TcpScale&) = default;
};

// What the window check needs of a segment (packet::Parsed's TCP fields).
struct TcpSegment {
  uint32_t seq = 0, ack = 0;
  uint16_t win = 0;
  uint32_t len = 0;  // payload bytes
  uint8_t flags = 0;
  int8_t wscale = -1;
};
[[nodiscard]] const char* name(TcpState s);

struct Flow {
  Key orig;               // as the client sent it
  Addr nat_dst;           // where it really goes (the resolver for DNS redirect)
  uint16_t nat_port = 0;  // our source port (or ICMP identifier) on the uplink
  TcpState tcp = TcpState::none;
  bool replied : 1 = false;
  bool fin_orig : 1 = false, fin_reply : 1 = false;
  bool live : 1 = false;
  std::array<TcpScale, 2> scale{};     // TCP: beside window (below), where a byte fits
  uint32_t rule = 0;                   // the rule that accepted it (for `xfwctl conntrack`)
  uint32_t vif_slot = 0, vif_gen = 0;  // the client's vif (netback::VifId)
  int64_t expires = 0;                 // ms, on the clock passed in
  uint32_t next_orig = 0, next_reply = 0;  // hash chains / free list (internal)
  uint32_t vif_prev = 0, vif_next = 0;      // the vif's list of flows (internal)
  // TCP: the client's side [0] and the remote's [1]. Not kept across a restart: an adopted flow
  // is picked up as conntrack picks up a connection, without window checks (TcpScale::liberal).
  std::array<TcpWindow, 2> window{};
  friend bool operator==(const Flow&, const Flow&) = default;
};

// The TCP flag combinations nf_conntrack_tcp accepts (tcp_valid_flags), ECE, CWR and PSH
// aside: SYN, SYN+URG, SYN+ACK, RST, RST+ACK, FIN+ACK, FIN+ACK+URG, ACK, ACK+URG. Any other
// (SYN+FIN, FIN alone, no flag, ...) is invalid in every state and in both directions.
[[nodiscard]] constexpr bool tcp_flags_valid(uint8_t flags) {
  constexpr uint8_t fin = 0x01, syn = 0x02, rst = 0x04, ack = 0x10, urg = 0x20;
  switch (flags & (fin | syn | rst | ack | urg)) {
    case syn: case syn | urg: case syn | ack: case rst: case rst | ack:
    case fin | ack: case fin | ack | urg: case ack: case ack | urg:
      return true;
    default:
      return false;
  }
}

// What a flow is, without where a table keeps it (chains, vif, slot): what a restart keeps.
[[nodiscard]] inline Flow portable(const Flow& f) {
  Flow p;
  p.orig = f.orig;
  p.nat_dst = f.nat_dst;
  p.nat_port = f.nat_port;
  p.tcp = f.tcp;
  p.replied = f.replied;
  p.fin_orig = f.fin_orig;
  p.fin_reply = f.fin_reply;
  p.rule = f.rule;
  p.expires = f.expires;
  return p;
}

struct Timeouts {  // milliseconds; defaults are Linux nf_conntrack's
  int64_t tcp_syn = 120'000, tcp_established = 432'000'000, tcp_fin = 120'000,
          tcp_close = 10'000, udp = 30'000, udp_stream = 180'000, icmp = 30'000;
};

struct Limits {
  uint32_t max_flows = 65536;
  uint32_t max_flows_per_vif = 8192;
  uint16_t port_lo = 1024, port_hi = 60999;  // NAT source ports (and ICMP identifiers);
                                             // above: xfwd's own DNS queries
};

enum class Refused : uint8_t { table_full, vif_limit, no_nat_port, taken };

class ConnTrack {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;
  ConnTrack(Limits limits, Timeouts timeouts, uint64_t seed);
  // The masquerade address of a family. Changing it drops every flow of that family.
  void set_uplink(bool v6, const Addr& a);
  [[nodiscard]] const Addr& uplink(bool v6) const { return uplink_[v6]; }

  // The flow `k` (original direction) belongs to, or kNone.
  [[nodiscard]] uint32_t find_orig(const Key& k, int64_t now);
  // The flow whose reply key is `k` (uplink_addr as destination), or kNone.
  [[nodiscard]] uint32_t find_reply(const Key& k, int64_t now);
  // Creates a flow for `orig` going to `nat_dst` and masqueraded as `uplink`.
  // Needs the uplink address of orig's family (set_uplink).
  std::variant<uint32_t, Refused> create(const Key& orig, const Addr& nat_dst, uint32_t vif_slot, uint32_t vif_gen, uint32_t rule,
                                         int64_t now);
  // Takes back a flow a previous xfwd had (daemon/state_file.h): `saved`'s keys, NAT port,
  // state, rule and expiry as they were, on the vif given. Refused (taken) when its NAT port is
  // outside the range or either key is already in use, and as create() is when a limit is hit.
  std::variant<uint32_t, Refused> adopt(const Flow& saved, uint32_t vif_slot, uint32_t vif_gen, int64_t now);
  // Updates the flow's state and expiry for a packet in one direction (tcp_flags for TCP).
  void seen(uint32_t id, bool from_client, uint8_t tcp_flags, int64_t now);
  // TCP: is the segment within the flow's window (nf_conntrack_tcp's four bounds: sequence
  // number not past what the receiver allows nor older than its window, ack neither of data
  // not sent nor too old), and a RST no older than the peer's ack? If so the window is updated;
  // if not, nothing of the flow changes. Call it before seen().
  [[nodiscard]] bool in_window(uint32_t id, bool from_client, const TcpSegment& s);

  void remove(uint32_t id);
  std::size_t flush_vif(uint32_t vif_slot);  // a vif went away: its flows go with it
  std::size_t sweep(int64_t now, std::size_t budget);  // frees expired flows, a slice at a time

  [[nodiscard]] const Flow& flow(uint32_t id) const { return slab_[id]; }
  [[nodiscard]] Key reply_key(const Flow& f) const;
  [[nodiscard]] std::size_t size() const { return count_; }
  [[nodiscard]] uint32_t vif_flows(uint32_t slot) const {
    return slot < per_vif_.size() ? per_vif_[slot] : 0;
  }
  [[nodiscard]] uint32_t capacity() const { return limits_.max_flows; }
  template <class F>
  void for_each(F&& f) const {
    for (uint32_t i = 0; i < limits_.max_flows; ++i)
      if (slab_[i].live) f(i, slab_[i]);
  }
  static constexpr std::size_t kBytesPerFlow = sizeof(Flow) + 2 * sizeof(uint32_t);

 private:
  [[nodiscard]] std::size_t bucket(const Key& k) const;
  void link(uint32_t id);
  void unlink(uint32_t id);
  std::size_t reclaim_vif(uint32_t vif_slot, int64_t now);
  [[nodiscard]] bool expired(uint32_t id, int64_t now) const { return slab_[id].expires <= now; }
  [[nodiscard]] bool reply_key_free(Key k, int64_t now);
  // A free slot and room under the vif's limit: the usual case, checked inline; else make_room()
  // reclaims expired flows (the vif's, then a sweep) or says which limit is hit.
  [[nodiscard]] bool room(uint32_t vif_slot) const {
    return free_ != kNone && vif_slot < per_vif_.size() && per_vif_[vif_slot] < limits_.max_flows_per_vif;
  }
  std::optional<Refused> make_room(uint32_t vif_slot, int64_t now);
  Flow& take_free();         // the first free slot, off the free list (make_room() first)
  uint32_t insert(Flow& f);  // a slot take_free() gave, filled in: into the table

  Limits limits_;
  Timeouts timeouts_;
  uint64_t seed_;
  HugeArray<Flow> slab_;
  HugeArray<uint32_t> orig_heads_, reply_heads_;
  std::vector<uint32_t> per_vif_;   // flows per vif slot
  std::vector<uint32_t> vif_head_;  // first flow of each vif slot's list
  uint32_t free_ = kNone;
  uint32_t count_ = 0;
  uint32_t sweep_cursor_ = 0;
  Addr uplink_[2];  // the reply keys' destination, per family
};

}  // namespace xfw::nat
