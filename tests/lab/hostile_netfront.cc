// tests/lab/hostile_netfront.cc — xfw-hostile-netfront: a hostile netfront on the real Xen.
//
// Runs in a lab AppVM whose kernel netfront is not loaded and is the frontend of its vif itself:
// XenStore through libxenstore (/dev/xen/xenbus), ring and data pages shared with the backend
// through libxengnttab's gntshr (/dev/xen/gntalloc), an unbound event channel through
// libxenevtchn (/dev/xen/evtchn). It replays the hostile-frontend suite (tests/unit/
// hostile_test.cc, NETBACK-HARDENING.md) against the real xfwd, one attack after another, each
// on a fresh connection: it first closes the old one (Closed, then Initialising) and shakes
// hands again (keys, Connected).
//
// After every attack it writes data/hostile/step ("after NAME", at the end "end") in its own
// XenStore directory and waits (up to 60 s) for dom0 to write the same value to
// data/hostile/ack: dom0 reads xfwd's counters for this vif then (lab/dom0/lib.sh, hostile_*);
// they are the attack's alone, as every attack has a connection of its own — but for the
// per-packet attacks, which share one ("after packets": their reasons differ and add up). For
// each attack it prints "T hostile NAME: WHAT IT SAW".
//   xfw-hostile-netfront IP [ATTACK...]     (no ATTACK: all, in the order of kAttacks)
// It is a test peer, not part of xfw: nothing here is installed in sys-firewall.
#include <atomic>
#define mb() std::atomic_thread_fence(std::memory_order_seq_cst)
#define rmb() std::atomic_thread_fence(std::memory_order_acquire)
#define wmb() std::atomic_thread_fence(std::memory_order_release)
extern "C" {  // Xen 4.17's library headers have no C++ guards
#include <xen/io/netif.h>
#include <xen/io/xenbus.h>
#include <xenevtchn.h>
#include <xengnttab.h>
#include <xenstore.h>
}
#include <arpa/inet.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
constexpr uint32_t kRing = 256, kPage = 4096;
constexpr uint32_t kTxPages = 32, kRxPages = 64;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "xfw-hostile-netfront: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(2);
}

// Pages shared with one domain: one mapping, one grant ref per page.
struct Shared {
  std::byte* at = nullptr;
  std::vector<uint32_t> refs;
  std::byte* page(uint32_t i) const { return at + std::size_t(i) * kPage; }
};

struct TxSeen {
  uint32_t ok = 0, error = 0, null = 0;
  std::vector<uint16_t> ids;
  std::string str() const {
    return std::to_string(ok) + " ok, " + std::to_string(error) + " error, " + std::to_string(null) + " null responses";
  }
};

// What connect() writes and sets up (hostile attacks change them).
struct Keys {
  std::map<std::string, std::string> override;  // keys written instead of (or beside) the usual
  uint32_t rx_buffers = kRxPages;                // receive buffers posted once connected
  uint32_t tx_req_prod_at_connect = 0;           // the tx ring's req_prod before the backend maps it
};

class Front {
 public:
  Front(std::string ip) : ip_(std::move(ip)) {
    xs_ = xs_open(0);
    if (!xs_) die("xs_open (/dev/xen/xenbus)");
    gs_ = xengntshr_open(nullptr, 0);
    if (!gs_) die("xengntshr_open (/dev/xen/gntalloc)");
    xe_ = xenevtchn_open(nullptr, 0);
    if (!xe_) die("xenevtchn_open (/dev/xen/evtchn)");
    be_path_ = read(fe_ + "/backend").value_or("");
    be_ = uint32_t(std::atoi(read(fe_ + "/backend-id").value_or("0").c_str()));
    mac_str_ = read(fe_ + "/mac").value_or("00:16:3e:5e:6c:00");
    unsigned m[6] = {};
    std::sscanf(mac_str_.c_str(), "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]);
    for (int i = 0; i < 6; ++i) mac_[i] = uint8_t(m[i]);
    if (be_path_.empty()) die("no " + fe_ + "/backend");
  }

  // --- XenStore ---
  std::optional<std::string> read(const std::string& p) {
    unsigned len = 0;
    char* v = static_cast<char*>(xs_read(xs_, XBT_NULL, p.c_str(), &len));
    if (!v) return std::nullopt;
    std::string s(v, len);
    std::free(v);
    return s;
  }
  void write(const std::string& p, const std::string& v) {
    if (!xs_write(xs_, XBT_NULL, p.c_str(), v.data(), unsigned(v.size()))) die("xs_write " + p);
  }
  void key(const std::string& k, const std::string& v) { write(fe_ + "/" + k, v); }
  void set_state(int s) { key("state", std::to_string(s)); }
  int be_state() { return std::atoi(read(be_path_ + "/state").value_or("0").c_str()); }
  // Until the backend's state is one of `want` (true) or `secs` pass (false).
  bool wait_be(std::initializer_list<int> want, int secs = 30) {
    const auto end = Clock::now() + std::chrono::seconds(secs);
    while (Clock::now() < end) {
      const int s = be_state();
      for (int w : want)
        if (s == w) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }
  // Step with dom0: writes data/hostile/step and waits until dom0 acknowledges it.
  void step(const std::string& s) {
    write("data/hostile/step", s);
    const auto end = Clock::now() + 60s;
    while (Clock::now() < end && read("data/hostile/ack").value_or("") != s) std::this_thread::sleep_for(100ms);
  }

  // --- the connection ---
  // Back to a backend in InitWait: the old connection closed (Closed, then Initialising) and its
  // pages and channel released once the backend let go of them.
  bool reset() {
    for (const auto& k : extra_keys_) xs_rm(xs_, XBT_NULL, (fe_ + "/" + k).c_str());
    extra_keys_.clear();
    if (be_state() != XenbusStateInitWait) {
      set_state(XenbusStateClosed);
      if (!wait_be({XenbusStateClosed})) return false;
      release();
      set_state(XenbusStateInitialising);
      if (!wait_be({XenbusStateInitWait})) return false;
    }
    release();
    return true;
  }

  // The handshake as Linux's netfront does it: share the rings, bind a channel, write the keys,
  // Connected. Returns the backend's answer: Connected (4), or Closing (5) if it refused.
  int connect(const Keys& k = {}) {
    tx_ring_ = share(1, true);
    rx_ring_ = share(1, true);
    tx_data_ = share(kTxPages, false);
    rx_data_ = share(kRxPages, true);
    const auto p = xenevtchn_bind_unbound_port(xe_, be_);
    if (p < 0) die("xenevtchn_bind_unbound_port");
    port_ = uint32_t(p);
    tx_ = reinterpret_cast<netif_tx_sring*>(tx_ring_.at);
    rx_ = reinterpret_cast<netif_rx_sring*>(rx_ring_.at);
    std::memset(tx_, 0, kPage);
    std::memset(rx_, 0, kPage);
    tx_->req_event = tx_->rsp_event = 1;
    rx_->req_event = rx_->rsp_event = 1;
    tx_->req_prod = k.tx_req_prod_at_connect;
    tx_prod_ = tx_rsp_cons_ = rx_prod_ = rx_rsp_cons_ = 0;
    std::map<std::string, std::string> keys{
        {"tx-ring-ref", std::to_string(tx_ring_.refs[0])}, {"rx-ring-ref", std::to_string(rx_ring_.refs[0])},
        {"event-channel", std::to_string(port_)},           {"request-rx-copy", "1"},
        {"feature-rx-notify", "1"},                         {"feature-sg", "1"},
        {"feature-gso-tcpv4", "1"},                         {"feature-gso-tcpv6", "1"}};
    for (const auto& [key_name, v] : k.override) {
      if (!keys.count(key_name)) extra_keys_.push_back(key_name);
      keys[key_name] = v;
    }
    for (const auto& [key_name, v] : keys) key(key_name, v);
    set_state(XenbusStateConnected);
    if (!wait_be({XenbusStateConnected, XenbusStateClosing, XenbusStateClosed})) return 0;
    const int s = be_state();
    if (s == XenbusStateConnected) post_rx(k.rx_buffers);
    return s;
  }

  // --- the rings ---
  void notify() { xenevtchn_notify(xe_, port_); }
  void put(uint16_t id, uint32_t gref, uint16_t off, uint16_t size, uint16_t flags) {
    netif_tx_request_t r{};
    r.gref = gref;
    r.offset = off;
    r.size = size;
    r.flags = flags;
    r.id = id;
    tx_->ring[tx_prod_ % kRing].req = r;
    ++tx_prod_;
  }
  void put_extra(uint8_t type, uint8_t flags, uint16_t gso_size = 0, uint8_t gso_type = 0) {
    netif_extra_info_t e{};
    e.type = type;
    e.flags = flags;
    e.u.gso.size = gso_size;
    e.u.gso.type = gso_type;
    std::memcpy(&tx_->ring[tx_prod_ % kRing], &e, sizeof e);
    ++tx_prod_;
  }
  void publish(uint32_t prod) {
    __atomic_store_n(&tx_->req_prod, prod, __ATOMIC_RELEASE);
    notify();
  }
  void publish() { publish(tx_prod_); }
  uint32_t tx_prod() const { return tx_prod_; }
  netif_rx_sring* rx_ring() { return rx_; }
  // Grant ref of tx data page i, with `frame` copied to its start.
  uint32_t data(uint32_t i, const std::vector<uint8_t>& frame = {}) {
    std::memcpy(tx_data_.page(i), frame.data(), frame.size());
    return tx_data_.refs[i];
  }
  // n pages shared with the backend (outside the connection's own: an attack's).
  Shared share(uint32_t n, bool writable) {
    Shared s;
    s.refs.resize(n);
    s.at = static_cast<std::byte*>(xengntshr_share_pages(gs_, be_, int(n), s.refs.data(), writable));
    if (!s.at) die("xengntshr_share_pages");
    return s;
  }
  void unshare(Shared& s) {
    if (s.at) xengntshr_unshare(gs_, s.at, uint32_t(s.refs.size()));
    s = {};
  }

  // Responses on the tx ring, until `want` slots are answered or `wait` passes.
  TxSeen tx_responses(uint32_t want, std::chrono::milliseconds wait = 3000ms) {
    TxSeen seen;
    const auto end = Clock::now() + wait;
    while (seen.ok + seen.error + seen.null < want && Clock::now() < end) {
      const uint32_t prod = __atomic_load_n(&tx_->rsp_prod, __ATOMIC_ACQUIRE);
      for (; tx_rsp_cons_ != prod; ++tx_rsp_cons_) {
        const auto r = tx_->ring[tx_rsp_cons_ % kRing].rsp;
        (r.status == NETIF_RSP_OKAY ? seen.ok : r.status == NETIF_RSP_NULL ? seen.null : seen.error)++;
        seen.ids.push_back(r.id);
      }
      tx_->rsp_event = tx_rsp_cons_ + 1;
      std::this_thread::sleep_for(5ms);
    }
    return seen;
  }
  // Posts n receive buffers (ids 0..n-1, one page each).
  void post_rx(uint32_t n) {
    for (uint32_t i = 0; i < n && i < kRxPages; ++i) {
      auto& req = rx_->ring[rx_prod_ % kRing].req;
      req.id = uint16_t(i);
      req.gref = rx_data_.refs[i];
      ++rx_prod_;
    }
    __atomic_store_n(&rx_->req_prod, rx_prod_, __ATOMIC_RELEASE);
    notify();
  }
  // Frames received within `wait` (buffers re-posted); stops early at a frame `until` accepts.
  std::vector<std::vector<uint8_t>> receive(std::chrono::milliseconds wait,
                                            const std::function<bool(const std::vector<uint8_t>&)>& until = {}) {
    std::vector<std::vector<uint8_t>> got;
    std::vector<uint8_t> cur;
    bool extra = false;
    const auto end = Clock::now() + wait;
    while (Clock::now() < end) {
      const uint32_t prod = __atomic_load_n(&rx_->rsp_prod, __ATOMIC_ACQUIRE);
      const bool any = rx_rsp_cons_ != prod;
      for (; rx_rsp_cons_ != prod; ++rx_rsp_cons_) {
        const auto r = rx_->ring[rx_rsp_cons_ % kRing].rsp;
        if (extra) {  // an extra-info slot: says whether another follows
          netif_extra_info_t e;
          std::memcpy(&e, &rx_->ring[rx_rsp_cons_ % kRing], sizeof e);
          extra = e.flags & XEN_NETIF_EXTRA_FLAG_MORE;
          continue;
        }
        if (r.id < kRxPages && r.status > 0 && r.offset + uint32_t(r.status) <= kPage) {
          const auto* p = reinterpret_cast<const uint8_t*>(rx_data_.page(r.id)) + r.offset;
          cur.insert(cur.end(), p, p + r.status);
        }
        extra = r.flags & NETRXF_extra_info;
        if (!(r.flags & NETRXF_more_data)) got.push_back(std::move(cur)), cur.clear();
        auto& req = rx_->ring[rx_prod_ % kRing].req;  // the buffer goes back
        req.id = r.id;
        req.gref = rx_data_.refs[r.id % kRxPages];
        ++rx_prod_;
      }
      if (any) {  // buffers went back: say so once
        __atomic_store_n(&rx_->req_prod, rx_prod_, __ATOMIC_RELEASE);
        rx_->rsp_event = rx_rsp_cons_ + 1;
        notify();
      }
      if (until && !got.empty() && until(got.back())) break;
      std::this_thread::sleep_for(5ms);
    }
    return got;
  }

  // --- frames ---
  // An ARP request for `target` from this VM (42 bytes, padded to 60): xfwd answers it.
  std::vector<uint8_t> arp_request(const char* target = "10.137.0.1") const {
    std::vector<uint8_t> f(60, 0);
    std::memset(f.data(), 0xff, 6);
    std::memcpy(&f[6], mac_, 6);
    f[12] = 0x08, f[13] = 0x06;
    const uint8_t hdr[] = {0, 1, 8, 0, 6, 4, 0, 1};
    std::memcpy(&f[14], hdr, sizeof hdr);
    std::memcpy(&f[22], mac_, 6);
    inet_pton(AF_INET, ip_.c_str(), &f[28]);
    inet_pton(AF_INET, target, &f[38]);
    return f;
  }
  static bool is_arp_reply(const std::vector<uint8_t>& f) {
    return f.size() >= 42 && f[12] == 0x08 && f[13] == 0x06 && f[20] == 0 && f[21] == 2;
  }
  // One ARP request sent as a plain one-slot packet; true once its reply came back.
  bool arp_round_trip() {
    put(0, data(0, arp_request()), 0, 60, 0);
    publish();
    return !receive(3000ms, is_arp_reply).empty() && tx_responses(1).ok >= 1;
  }

 private:
  void release() {
    if (port_) xenevtchn_unbind(xe_, port_);
    port_ = 0;
    for (auto* s : {&tx_ring_, &rx_ring_, &tx_data_, &rx_data_}) unshare(*s);
    tx_ = nullptr;
    rx_ = nullptr;
  }

  std::string ip_, fe_ = "device/vif/0", be_path_, mac_str_;
  std::vector<std::string> extra_keys_;  // keys an attack added: removed at the next reset
  uint8_t mac_[6] = {};
  uint32_t be_ = 0;
  xs_handle* xs_ = nullptr;
  xengntshr_handle* gs_ = nullptr;
  xenevtchn_handle* xe_ = nullptr;
  Shared tx_ring_, rx_ring_, tx_data_, rx_data_;
  uint32_t port_ = 0;
  netif_tx_sring* tx_ = nullptr;
  netif_rx_sring* rx_ = nullptr;
  uint32_t tx_prod_ = 0, tx_rsp_cons_ = 0, rx_prod_ = 0, rx_rsp_cons_ = 0;
};

std::string state_str(int s) { return "backend state " + std::to_string(s); }

// --- the attacks: each returns what it saw (dom0 checks xfwd's side) ---
struct Attack {
  std::string name;
  std::function<std::string(Front&)> run;
  uint32_t rx_buffers = kRxPages;  // posted at connect
  // Attacks of one group share a connection, one after another, and dom0 reads xfwd's counters
  // once after the last ("after GROUP"): per-packet attacks, whose reasons differ and add up.
  // An attack without a group has a connection and a step of its own.
  std::string group = {};
};
constexpr const char* kPackets = "packets";

// A packet whose slots all say so, published: `sizes[0]` is the first slot's (the packet's) size.
void chain(Front& f, const std::vector<uint16_t>& sizes, uint16_t last_flags = 0) {
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const bool last = i + 1 == sizes.size();
    f.put(uint16_t(i), f.data(uint32_t(i % kTxPages), f.arp_request()), 0, sizes[i],
          last ? last_flags : NETTXF_more_data);
  }
  f.publish();
}

// Waits until the backend left Connected (a fatal error), up to 5 s.
std::string after_fatal(Front& f) {
  const bool left = f.wait_be({XenbusStateClosing, XenbusStateClosed}, 5);
  return left ? "disconnected, " + state_str(f.be_state()) : "still connected, " + state_str(f.be_state());
}

const std::vector<Attack> kAttacks = {
    // Item 5-8: offsets, sizes, slot counts (per packet: dropped, answered with an error).
    {"offset", [](Front& f) { f.put(0, f.data(0, f.arp_request()), 4000, 200, 0); f.publish(); return f.tx_responses(1).str(); }, kRxPages, kPackets},
    {"offset-wrap", [](Front& f) { f.put(0, f.data(0), 65500, 60, 0); f.publish(); return f.tx_responses(1).str(); }, kRxPages, kPackets},
    {"runt", [](Front& f) { f.put(0, f.data(0, f.arp_request()), 0, 10, 0); f.publish(); return f.tx_responses(1).str(); }, kRxPages, kPackets},
    {"zero-fragment", [](Front& f) { chain(f, {100, 0, 100}); return f.tx_responses(3).str(); }, kRxPages, kPackets},
    {"fragment-overflow", [](Front& f) { chain(f, {100, 80, 80}); return f.tx_responses(3).str(); }, kRxPages, kPackets},
    {"size-wrap", [](Front& f) {  // 17 fragments of 4096 claim more than a 16-bit size can say
       std::vector<uint16_t> s(18, 4096);
       s[0] = 0xffff;
       chain(f, s);
       return f.tx_responses(18).str();
     }, kRxPages, kPackets},
    {"slots-19", [](Front& f) { chain(f, std::vector<uint16_t>(19, 100)); return f.tx_responses(19).str(); }, kRxPages, kPackets},
    // Item 10: grants it does not own or gave to someone else; grants revoked under the copy.
    {"bad-gref", [](Front& f) { f.put(0, 999999, 0, 60, 0); f.publish(); return f.tx_responses(1).str(); }, kRxPages, kPackets},
    {"gref-of-dom0", [](Front& f) {
       // A page this domain granted to dom0, not to the backend.
       auto* g = xengntshr_open(nullptr, 0);
       uint32_t ref = 0;
       void* p = g ? xengntshr_share_pages(g, 0, 1, &ref, 0) : nullptr;
       if (!p) return std::string("could not grant a page to dom0");
       std::memcpy(p, f.arp_request().data(), 60);
       f.put(0, ref, 0, 60, 0);
       f.publish();
       const auto seen = f.tx_responses(1);
       xengntshr_unshare(g, p, 1);
       xengntshr_close(g);
       return "grant " + std::to_string(ref) + " (to dom0): " + seen.str();
     }, kRxPages, kPackets},
    {"revoked", [](Front& f) {
       // 8 grants revoked before their requests are published (each must fail), 8 right after
       // (xfwd has copied some, or all, or none).
       Shared early = f.share(8, false), late = f.share(8, false);
       const auto arp = f.arp_request();
       for (uint32_t i = 0; i < 16; ++i) {
         Shared& s = i < 8 ? early : late;
         std::memcpy(s.page(i % 8), arp.data(), arp.size());
         f.put(uint16_t(i), s.refs[i % 8], 0, 60, 0);
       }
       f.unshare(early);
       f.publish();
       f.unshare(late);
       return "8 grants revoked before their requests, 8 right after: " + f.tx_responses(16).str();
     }, kRxPages, kPackets},
    // Item 11: ids are echoed, never used.
    {"ids", [](Front& f) {
       f.put(0xffff, f.data(0, f.arp_request()), 0, 60, 0);
       f.put(0xffff, f.data(1, f.arp_request()), 0, 60, 0);
       f.publish();
       const auto seen = f.tx_responses(2);
       const bool echoed = seen.ids.size() == 2 && seen.ids[0] == 0xffff && seen.ids[1] == 0xffff;
       return seen.str() + (echoed ? ", ids 0xffff echoed" : ", ids not echoed");
     }, kRxPages, kPackets},
    // Item 9: extra-info (GSO claims).
    {"gso-bad", [](Front& f) {
       f.put(0, f.data(0, f.arp_request()), 0, 60, NETTXF_extra_info);
       f.put_extra(XEN_NETIF_EXTRA_TYPE_GSO, 0, 10, XEN_NETIF_GSO_TYPE_TCPV4);
       f.publish();
       return f.tx_responses(2).str();
     }, kRxPages, kPackets},
    // Item 14: an event storm.
    {"storm", [](Front& f) {
       const auto start = Clock::now();
       uint32_t n = 0;
       while (Clock::now() - start < 3s) f.notify(), ++n;
       return std::to_string(n) + " notifications in 3 s; then ARP " + (f.arp_round_trip() ? "answered" : "NOT answered");
     }, kRxPages, kPackets},
    // Item 15: never posting receive buffers while xfwd has frames for it.
    {"no-rx-buffers", [](Front& f) {
       uint32_t sent = 0;
       for (int round = 0; round < 12; ++round) {
         for (uint32_t i = 0; i < 250; ++i) f.put(uint16_t(i), f.data(i % kTxPages, f.arp_request()), 0, 60, 0);
         f.publish();
         sent += f.tx_responses(250, 3000ms).ok;
       }
       std::this_thread::sleep_for(11s);  // past the stall timeout (10 s)
       return std::to_string(sent) + " ARP requests sent, no receive buffer posted";
     }, 0},
    // Items 1-2, 6, 8-9: fatal ring-protocol violations (the vif is disconnected).
    {"tx-req-prod", [](Front& f) { f.publish(f.tx_prod() + 1000); return after_fatal(f); }},
    {"tx-req-prod-back", [](Front& f) { f.publish(f.tx_prod() - 1); return after_fatal(f); }},
    {"rx-req-prod", [](Front& f) {
       auto* rx = f.rx_ring();
       __atomic_store_n(&rx->req_prod, rx->req_prod + 1000, __ATOMIC_RELEASE);
       f.put(0, f.data(0, f.arp_request()), 0, 60, 0);  // xfwd answers it: into that ring
       f.publish();
       return after_fatal(f);
     }},
    {"slots-20", [](Front& f) { chain(f, std::vector<uint16_t>(20, 100)); return after_fatal(f); }},
    {"beyond-prod", [](Front& f) { chain(f, {100, 50, 50}, NETTXF_more_data); return after_fatal(f); }},
    {"extra-type-0", [](Front& f) {
       f.put(0, f.data(0, f.arp_request()), 0, 60, NETTXF_extra_info);
       f.put_extra(0, 0);
       f.publish();
       return after_fatal(f);
     }},
    // Item 16: closing in the middle of a packet.
    {"close-mid-packet", [](Front& f) {
       f.put(0, f.data(0, f.arp_request()), 0, 200, NETTXF_more_data);  // never published
       f.set_state(XenbusStateClosing);
       const bool closed = f.wait_be({XenbusStateClosing, XenbusStateClosed}, 5);
       return std::string(closed ? "closed, " : "NOT closed, ") + state_str(f.be_state());
     }},
};

// Attacks on the handshake itself: connect() with hostile keys or rings.
struct HandshakeAttack {
  const char* name;
  Keys keys;
};
const std::vector<HandshakeAttack> kHandshakes = {
    {"key-ring-ref-garbage", {{{"tx-ring-ref", "12abc"}}}},
    {"key-ring-ref-not-granted", {{{"rx-ring-ref", "999999"}}}},
    {"key-event-channel-bad", {{{"event-channel", "99999"}}}},
    {"key-no-rx-copy", {{{"request-rx-copy", "0"}}}},
    {"key-multi-queue", {{{"multi-queue-num-queues", "4"}}}},
    {"ring-full-at-connect", {{}, kRxPages, 1000}},
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: xfw-hostile-netfront IP [ATTACK...]\n");
    return 2;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  Front f(argv[1]);
  std::vector<std::string> want(argv + 2, argv + argc);
  auto wanted = [&](const std::string& n) {
    if (want.empty()) return true;
    for (const auto& w : want)
      if (w == n) return true;
    return false;
  };
  auto say = [](const std::string& n, const std::string& what) { std::printf("T hostile %s: %s\n", n.c_str(), what.c_str()); };

  for (const auto& h : kHandshakes) {
    if (!wanted(h.name)) continue;
    if (!f.reset()) { say(h.name, "no InitWait from the backend, " + state_str(f.be_state())); continue; }
    const int s = f.connect(h.keys);
    say(h.name, s == XenbusStateConnected ? "ACCEPTED (Connected)" : "refused, " + state_str(s));
    f.step(std::string("after ") + h.name);
  }
  std::string open;  // the step of the connection in use, not yet written
  for (const auto& a : kAttacks) {
    if (!wanted(a.name)) continue;
    const std::string step = a.group.empty() ? a.name : a.group;
    if (step != open) {
      if (!open.empty()) f.step("after " + open);
      open.clear();
      Keys k;
      k.rx_buffers = a.rx_buffers;
      if (!f.reset() || f.connect(k) != XenbusStateConnected) { say(a.name, "could not connect, " + state_str(f.be_state())); continue; }
      open = step;
    }
    say(a.name, a.run(f));
  }
  if (!open.empty()) f.step("after " + open);
  // Flapping: every state in a tight loop, then a clean reconnect that carries traffic.
  if (wanted("flap")) {
    for (int i = 0; i < 300; ++i) f.set_state(1 + (i * 7) % 6);
    std::this_thread::sleep_for(1s);
    const bool back = f.reset() && f.connect() == XenbusStateConnected && f.arp_round_trip();
    say("flap", std::string("300 state writes, then reconnected: ARP ") + (back ? "answered" : "NOT answered"));
    f.step("after flap");
  }
  // After everything: a clean connection still works both ways.
  const bool works = f.reset() && f.connect() == XenbusStateConnected && f.arp_round_trip();
  say("works", works ? "connected again, ARP answered" : "FAILED: " + state_str(f.be_state()));
  f.set_state(XenbusStateClosing);
  f.wait_be({XenbusStateClosing, XenbusStateClosed}, 5);
  f.set_state(XenbusStateClosed);
  f.step("end");
  return works ? 0 : 1;
}
