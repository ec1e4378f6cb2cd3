#include "nat/conntrack.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "packet/parse.h"

namespace xfw::nat {
namespace {

uint64_t mix(uint64_t h, uint64_t v) {  // a multiply-xorshift step (splitmix64's finalizer)
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  return h;
}

// Sequence-number order (RFC 9293 §3.4), modulo 2^32.
bool before(uint32_t a, uint32_t b) { return int32_t(a - b) < 0; }
bool after(uint32_t a, uint32_t b) { return before(b, a); }

uint64_t load64(const uint8_t* p) {  // host order: only hashed, never shown
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

}  // namespace

const char* name(TcpState s) {
  switch (s) {
    case TcpState::none: return "-";
    case TcpState::syn_sent: return "SYN_SENT";
    case TcpState::syn_recv: return "SYN_RECV";
    case TcpState::established: return "ESTABLISHED";
    case TcpState::fin_wait: return "FIN_WAIT";
    case TcpState::closing: return "CLOSING";
    case TcpState::closed: return "CLOSED";
  }
  return "?";
}

ConnTrack::ConnTrack(Limits limits, Timeouts timeouts, uint64_t seed)
    : limits_(limits), timeouts_(timeouts), seed_(seed) {
  if (limits_.max_flows == 0) limits_.max_flows = 1;
  if (limits_.port_lo == 0 || limits_.port_lo > limits_.port_hi) limits_.port_lo = limits_.port_hi;
  slab_ = HugeArray<Flow>(limits_.max_flows);
  const std::size_t buckets = std::bit_ceil(std::size_t(limits_.max_flows));
  orig_heads_ = HugeArray<uint32_t>(buckets);
  reply_heads_ = HugeArray<uint32_t>(buckets);
  for (std::size_t i = 0; i < buckets; ++i) orig_heads_[i] = reply_heads_[i] = kNone;
  for (uint32_t i = 0; i < limits_.max_flows; ++i) {  // the free list, in slab order
    slab_[i].live = false;
    slab_[i].next_orig = i + 1 < limits_.max_flows ? i + 1 : kNone;
  }
  free_ = 0;
}

void ConnTrack::set_uplink(bool v6, const Addr& a) {
  if (uplink_[v6] == a) return;
  for (uint32_t i = 0; i < limits_.max_flows; ++i)
    if (slab_[i].live && slab_[i].orig.v6 == v6) remove(i);
  uplink_[v6] = a;
}

// Keyed with the seed, so a guest cannot aim its flows at one chain without knowing it.
std::size_t ConnTrack::bucket(const Key& k) const {
  constexpr uint64_t kMul = 0x9E3779B97F4A7C15ull;
  uint64_t h = seed_;
  for (uint64_t w : {load64(k.src.b.data()), load64(k.src.b.data() + 8), load64(k.dst.b.data()),
                     load64(k.dst.b.data() + 8),
                     uint64_t(k.sport) << 24 | uint64_t(k.dport) << 8 | k.proto})
    h = (h ^ w) * kMul, h ^= h >> 31;
  return std::size_t(mix(h, seed_)) & (orig_heads_.size() - 1);
}

Key ConnTrack::reply_key(const Flow& f) const {
  return Key{f.nat_dst, uplink_[f.orig.v6], f.orig.dport, f.nat_port, f.orig.proto, f.orig.v6};
}

void ConnTrack::link(uint32_t id) {
  Flow& f = slab_[id];
  f.vif_prev = kNone;
  f.vif_next = vif_head_[f.vif_slot];
  if (f.vif_next != kNone) slab_[f.vif_next].vif_prev = id;
  vif_head_[f.vif_slot] = id;
  auto& ho = orig_heads_[bucket(f.orig)];
  f.next_orig = ho;
  ho = id;
  auto& hr = reply_heads_[bucket(reply_key(f))];
  f.next_reply = hr;
  hr = id;
}

void ConnTrack::unlink(uint32_t id) {
  Flow& f = slab_[id];
  (f.vif_prev == kNone ? vif_head_[f.vif_slot] : slab_[f.vif_prev].vif_next) = f.vif_next;
  if (f.vif_next != kNone) slab_[f.vif_next].vif_prev = f.vif_prev;
  for (uint32_t* p = &orig_heads_[bucket(f.orig)]; *p != kNone; p = &slab_[*p].next_orig) {
    if (*p == id) {
      *p = f.next_orig;
      break;
    }
  }
  for (uint32_t* p = &reply_heads_[bucket(reply_key(f))]; *p != kNone; p = &slab_[*p].next_reply) {
    if (*p == id) {
      *p = f.next_reply;
      break;
    }
  }
}

void ConnTrack::remove(uint32_t id) {
  Flow& f = slab_[id];
  if (!f.live) return;
  unlink(id);
  --per_vif_[f.vif_slot];
  f.live = false;
  f.next_orig = free_;
  free_ = id;
  --count_;
}

uint32_t ConnTrack::find_orig(const Key& k, int64_t now) {
  for (uint32_t id = orig_heads_[bucket(k)]; id != kNone; id = slab_[id].next_orig) {
    if (slab_[id].orig == k) {
      if (!expired(id, now)) return id;
      remove(id);
      return kNone;
    }
  }
  return kNone;
}

uint32_t ConnTrack::find_reply(const Key& k, int64_t now) {
  for (uint32_t id = reply_heads_[bucket(k)]; id != kNone; id = slab_[id].next_reply) {
    if (reply_key(slab_[id]) == k) {
      if (!expired(id, now)) return id;
      remove(id);
      return kNone;
    }
  }
  return kNone;
}

bool ConnTrack::reply_key_free(Key k, int64_t now) { return find_reply(k, now) == kNone; }

std::optional<Refused> ConnTrack::make_room(uint32_t vif_slot, int64_t now) {
  if (vif_slot >= per_vif_.size()) {
    per_vif_.resize(vif_slot + 1, 0);
    vif_head_.resize(vif_slot + 1, kNone);
  }
  if (per_vif_[vif_slot] >= limits_.max_flows_per_vif && reclaim_vif(vif_slot, now) == 0)
    return Refused::vif_limit;
  if (free_ == kNone) {
    sweep(now, 4096);
    if (free_ == kNone) return Refused::table_full;
  }
  return std::nullopt;
}

Flow& ConnTrack::take_free() {
  Flow& f = slab_[free_];
  free_ = f.next_orig;
  return f;
}

uint32_t ConnTrack::insert(Flow& f) {
  const auto id = uint32_t(&f - &slab_[0]);
  f.live = true;
  link(id);
  ++per_vif_[f.vif_slot];
  ++count_;
  return id;
}

std::variant<uint32_t, Refused> ConnTrack::create(const Key& orig, const Addr& nat_dst,
                                                  uint32_t vif_slot, uint32_t vif_gen,
                                                  uint32_t rule, int64_t now) {
  if (!room(vif_slot))
    if (const auto full = make_room(vif_slot, now)) return *full;
  // NAT port: the client's own port when it is in range and free (traces stay readable), else
  // RFC 6056 §3.3.3-style: a start from a seeded hash of the flow, then the next ports in turn.
  Key reply{nat_dst, uplink_[orig.v6], orig.dport, 0, orig.proto, orig.v6};
  const uint32_t span = uint32_t(limits_.port_hi) - limits_.port_lo + 1;
  const bool keep = orig.sport >= limits_.port_lo && orig.sport <= limits_.port_hi;
  const auto start = uint32_t(mix(seed_, bucket(orig)) % span);
  bool found = false;
  for (uint32_t i = 0; i < 1 + std::min<uint32_t>(span, 256) && !found; ++i) {
    if (i == 0 && !keep) continue;
    reply.dport = uint16_t(i == 0 ? orig.sport : limits_.port_lo + (start + i - 1) % span);
    found = reply_key_free(reply, now);
  }
  if (!found) return Refused::no_nat_port;

  Flow& f = take_free();
  f = Flow{};
  f.orig = orig;
  f.nat_dst = nat_dst;
  f.nat_port = reply.dport;
  f.vif_slot = vif_slot;
  f.vif_gen = vif_gen;
  f.rule = rule;
  const uint32_t id = insert(f);
  seen(id, true, 0, now);  // an unanswered flow's timeout until its first packet is seen
  return id;
}

std::variant<uint32_t, Refused> ConnTrack::adopt(const Flow& saved, uint32_t vif_slot, uint32_t vif_gen,
                                                 int64_t now) {
  if (saved.nat_port < limits_.port_lo || saved.nat_port > limits_.port_hi) return Refused::taken;
  if (!room(vif_slot))
    if (const auto full = make_room(vif_slot, now)) return *full;
  if (find_orig(saved.orig, now) != kNone || !reply_key_free(reply_key(saved), now)) return Refused::taken;
  Flow& f = take_free();
  f = portable(saved);
  f.vif_slot = vif_slot;
  f.vif_gen = vif_gen;
  return insert(f);
}

void ConnTrack::seen(uint32_t id, bool from_client, uint8_t tcp_flags, int64_t now) {
  Flow& f = slab_[id];
  if (!from_client) f.replied = true;
  switch (f.orig.proto) {
    case packet::ipproto::tcp: {
      constexpr uint8_t fin = 0x01, syn = 0x02, rst = 0x04, ack = 0x10;
      if (tcp_flags & rst) {
        f.tcp = TcpState::closed;
      } else if (f.tcp == TcpState::none && (tcp_flags & syn)) {
        f.tcp = TcpState::syn_sent;
      } else if (f.tcp == TcpState::syn_sent && !from_client && (tcp_flags & (syn | ack)) == (syn | ack)) {
        f.tcp = TcpState::syn_recv;
      } else if (f.tcp == TcpState::syn_recv && from_client && (tcp_flags & ack)) {
        f.tcp = TcpState::established;
      }
      if ((tcp_flags & fin) && f.tcp >= TcpState::syn_recv && f.tcp != TcpState::closed) {
        if (from_client) {
          f.fin_orig = true;
        } else {
          f.fin_reply = true;
        }
        f.tcp = f.fin_orig && f.fin_reply ? TcpState::closing : TcpState::fin_wait;
      }
      int64_t t = timeouts_.tcp_established;
      switch (f.tcp) {
        case TcpState::none:
        case TcpState::syn_sent:
        case TcpState::syn_recv: t = timeouts_.tcp_syn; break;
        case TcpState::established: t = timeouts_.tcp_established; break;
        case TcpState::fin_wait:
        case TcpState::closing: t = timeouts_.tcp_fin; break;
        case TcpState::closed: t = timeouts_.tcp_close; break;
      }
      f.expires = now + t;
      break;
    }
    case packet::ipproto::udp:
      f.expires = now + (f.replied ? timeouts_.udp_stream : timeouts_.udp);
      break;
    default:
      f.expires = now + timeouts_.icmp;
      break;
  }
}

bool ConnTrack::in_window(uint32_t id, bool from_client, const TcpSegment& s) {
  constexpr uint8_t fin = 0x01, syn = 0x02, rst = 0x04, ack_flag = 0x10;
  constexpr uint32_t kMinAckWindow = 66000;  // conntrack's MAXACKWINCONST
  Flow& f = slab_[id];
  if (f.scale[0].liberal) return true;
  const int si = from_client ? 0 : 1, ri = 1 - si;
  TcpWindow &snd = f.window[si], &rcv = f.window[ri];
  TcpScale &snd_x = f.scale[si], &rcv_x = f.scale[ri];
  // What the sender may send: up to the receiver's highest ack plus its largest window.
  auto maxend = [](const TcpWindow& w, const TcpWindow& other, const TcpScale& other_x) {
    return other_x.ack_seen ? other.maxack + other.maxwin : w.end + w.maxwin;
  };
  const bool is_syn = s.flags & syn, has_ack = s.flags & ack_flag, is_rst = s.flags & rst;
  uint32_t seq = s.seq, end = s.seq + s.len + (is_syn ? 1 : 0) + ((s.flags & fin) ? 1 : 0);
  uint32_t win = s.win;
  const TcpWindow snd_was = snd, rcv_was = rcv;
  const TcpScale snd_x_was = snd_x, rcv_x_was = rcv_x;
  auto open_with = [&] {  // a SYN: this side starts here
    snd = TcpWindow{end, win ? win : 1u, 0};
    snd_x = TcpScale{};
    snd_x.offered = s.wscale >= 0;
    snd_x.scale = snd_x.offered ? uint8_t(s.wscale & 0x0F) : 0;
  };
  if (snd.maxwin == 0) {  // the first segment from this side
    if (is_syn) {
      open_with();
      if (!has_ack) return true;  // the opening SYN (or a simultaneous open)
      if (!(snd_x.offered && rcv_x.offered)) snd_x.scale = rcv_x.scale = 0;  // RFC 7323: both or neither
    } else if (rcv.maxwin == 0) {  // neither side seen: a connection adopted in its middle
      f.scale[0].liberal = true;
      return true;
    } else {  // this side's first segment is not a SYN: its history is lost, start from here
      const uint32_t swin = win << snd_x.scale;
      snd.end = end;
      snd.maxwin = swin ? swin : 1;
      if (s.ack == rcv.end + 1) ++rcv.end;  // likely a reply to a keepalive
    }
  } else if (is_syn && !has_ack && from_client && f.tcp == TcpState::syn_sent && after(end, snd.end)) {
    open_with();  // the client's SYN again, with another initial sequence number
    return true;
  }
  uint32_t ack = s.ack;
  if (!has_ack || (is_rst && ack == 0)) ack = rcv.end;  // no ack to check (or a stack's zero)
  if (is_rst && seq == 0 && f.tcp == TcpState::syn_sent) seq = end = snd.end;  // RST to a SYN
  const uint32_t max_ack_window = std::max(snd.maxwin, kMinAckWindow);
  const uint32_t snd_maxend = maxend(snd, rcv, rcv_x);
  const bool ok = !after(seq, snd_maxend)                     // not past what the receiver allows
                  && after(end, snd.end - rcv.maxwin - 1)     // not older than the receiver's window
                  && !after(ack, rcv.end)                     // acks nothing not sent
                  && after(ack, rcv.end - max_ack_window - 1)  // and nothing too old
                  && !(is_rst && rcv_x.ack_seen && before(seq, rcv.maxack));  // a RST older than the peer's ack
  if (!ok) {
    snd = snd_was, rcv = rcv_was, snd_x = snd_x_was, rcv_x = rcv_x_was;
    return false;
  }
  if (!is_syn) win <<= snd_x.scale;
  snd.maxwin = std::max(snd.maxwin, win);
  if (after(end, snd.end)) snd.end = end;
  if (has_ack && (!snd_x.ack_seen || after(s.ack, snd.maxack))) {
    snd.maxack = s.ack;
    snd_x.ack_seen = true;
  }
  if (rcv.maxwin != 0 && after(end, snd_maxend)) rcv.maxwin += end - snd_maxend;
  return true;
}

std::size_t ConnTrack::flush_vif(uint32_t vif_slot) {
  std::size_t n = 0;
  while (vif_slot < vif_head_.size() && vif_head_[vif_slot] != kNone) {
    remove(vif_head_[vif_slot]);
    ++n;
  }
  return n;
}

std::size_t ConnTrack::reclaim_vif(uint32_t vif_slot, int64_t now) {
  std::size_t n = 0;
  for (uint32_t id = vif_head_[vif_slot]; id != kNone;) {
    const uint32_t next = slab_[id].vif_next;
    if (expired(id, now)) {
      remove(id);
      ++n;
    }
    id = next;
  }
  return n;
}

std::size_t ConnTrack::sweep(int64_t now, std::size_t budget) {
  std::size_t freed = 0;
  for (std::size_t n = 0; n < budget && n < limits_.max_flows; ++n) {
    const uint32_t i = sweep_cursor_;
    sweep_cursor_ = sweep_cursor_ + 1 < limits_.max_flows ? sweep_cursor_ + 1 : 0;
    if (slab_[i].live && expired(i, now)) {
      remove(i);
      ++freed;
    }
  }
  return freed;
}

}  // namespace xfw::nat
