// xfwd's netfront toward a simulated sys-net backend (xen/sim/netback.h, Linux's behaviour):
// the handshake, frames both ways, reconnection, and every item of NETFRONT-HARDENING.md
// against a hostile backend (the test name says which item).
// ring.h's macros expect the kernel's barriers.
#include <atomic>
#define mb() std::atomic_thread_fence(std::memory_order_seq_cst)
#define rmb() std::atomic_thread_fence(std::memory_order_acquire)
#define wmb() std::atomic_thread_fence(std::memory_order_release)
#include <gtest/gtest.h>
#include <xen/io/netif.h>

#include <cstring>
#include <numeric>

#include "netfront/netfront.h"
#include "xen/sim/netback.h"
#include "xen/sim/toolstack.h"

namespace xfw::netfront {
namespace {

using namespace std::chrono_literals;
using xen::DomId;
using xen::sim::SimNetback;
using xen::sim::SimNetbackOptions;

constexpr DomId kNet{1}, kFw{2};

std::vector<std::byte> frame(std::size_t n, uint8_t seed = 1) {
  std::vector<std::byte> f(n);
  for (std::size_t i = 0; i < n; ++i) f[i] = std::byte(uint8_t(seed + i * 7));
  return f;
}

// An extra-info slot as the response it is written over (the rx ring's slots are shared).
netif_rx_response_t as_response(const netif_extra_info_t& e) {
  netif_rx_response_t r;
  std::memcpy(&r, &e, sizeof r);
  return r;
}

struct Received {
  std::vector<std::byte> bytes;
  RxFrame meta;
};

class NetfrontTest : public ::testing::Test {
 protected:
  void boot(SimNetbackOptions be = {}, NetfrontConfig cfg = {}) {
    ts.create_domain(kNet, "sys-net");
    ts.create_domain(kFw, "sys-firewall");
    ts.add_vif({.backend = kNet, .frontend = kFw, .devid = 0, .mac = "00:16:3e:5e:6c:00", .ip = "", .rate = std::nullopt});
    backend = std::make_unique<SimNetback>(hv, kNet, kFw, 0, be);
    backend->step();  // InitWait, before we look (as in a booting sys-firewall)
    make_frontend(cfg);
  }
  void make_frontend(NetfrontConfig cfg = {}) {
    cfg.log = [this](LogLevel, const std::string& m) { logs.push_back(m); };
    nf = std::make_unique<Netfront>(xs, share, evt, cfg);
    nf->set_receiver([this](const RxFrame& f) {
      got.push_back({{f.bytes.begin(), f.bytes.end()}, f});
      if (on_rx) on_rx(f);
    });
    std::string err;
    ASSERT_TRUE(nf->start(&err)) << err;
    pump();
  }
  // Runs both ends until neither has anything left to do.
  void pump() {
    for (int idle = 0, n = 0; idle < 3 && n < 10'000; ++n) {
      bool did = backend && backend->step();
      did |= nf->on_xenstore(now);
      nf->on_events(now);
      while (nf->poll(now)) did = true;
      nf->flush();
      idle = did ? 0 : idle + 1;
    }
  }
  void advance(std::chrono::milliseconds d) {
    now += d;
    nf->on_timer(now);
    pump();
  }
  [[nodiscard]] uint64_t drops(DropReason r) const {
    return nf->status(now).counters.drops[std::size_t(r)];
  }
  // A frame in each direction gets through.
  void expect_traffic() {
    const auto up = frame(100, 9), down = frame(120, 3);
    got.clear();
    ASSERT_TRUE(nf->connected());
    ASSERT_TRUE(nf->send(up));
    pump();
    auto r = backend->receive();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->bytes, up);
    ASSERT_TRUE(backend->send(down));
    pump();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].bytes, down);
  }
  // The rx request the frontend posted at ring index i.
  netif_rx_request_t posted(uint32_t i) {
    return *RING_GET_REQUEST(&backend->raw_rx(), i);
  }
  // Writes response(s) at the backend's rx rsp_prod and publishes them.
  void rx_respond(std::initializer_list<netif_rx_response_t> rsps) {
    auto& rx = backend->raw_rx();
    for (const auto& r : rsps) {
      *RING_GET_RESPONSE(&rx, rx.rsp_prod_pvt) = r;
      ++rx.rsp_prod_pvt;
      ++rx.req_cons;
    }
    RING_PUSH_RESPONSES(&rx);
    backend->raw_notify();
  }
  netif_rx_response_t data_slot(uint16_t flags, int16_t size, uint16_t offset = 0) {
    const uint32_t i = backend->raw_rx().rsp_prod_pvt + pending_rsps_;
    ++pending_rsps_;
    const auto req = posted(i);
    const auto bytes = frame(std::size_t(std::max<int16_t>(size, 0)), uint8_t(i));
    if (size > 0 && offset + size <= 4096) backend->raw_write_page(xen::GrantRef{req.gref}, offset, bytes);
    return {req.id, offset, flags, size};
  }
  void rx_respond_slots(std::initializer_list<netif_rx_response_t> rsps) {
    pending_rsps_ = 0;
    rx_respond(rsps);
  }

  xen::sim::SimHypervisor hv;
  xen::sim::SimToolstack ts{hv};
  xen::sim::SimXenStore xs{hv, kFw};
  xen::sim::SimGrantShare share{hv, kFw};
  xen::sim::SimEventChannels evt{hv, kFw};
  std::unique_ptr<SimNetback> backend;
  std::unique_ptr<Netfront> nf;
  std::vector<Received> got;
  std::function<void(const RxFrame&)> on_rx;
  std::vector<std::string> logs;
  TimePoint now = Clock::now();
  uint32_t pending_rsps_ = 0;
};

TEST_F(NetfrontTest, ConnectsAndWritesWhatItNegotiates) {
  boot();
  ASSERT_TRUE(nf->connected());
  EXPECT_TRUE(backend->connected());
  const std::string fe = "/local/domain/2/device/vif/0";
  EXPECT_EQ(xs.read(xen::kNoTxn, fe + "/state"), "4");
  EXPECT_EQ(xs.read(xen::kNoTxn, fe + "/request-rx-copy"), "1");
  EXPECT_EQ(xs.read(xen::kNoTxn, fe + "/feature-rx-notify"), "1");
  EXPECT_EQ(xs.read(xen::kNoTxn, fe + "/feature-sg"), "1");
  EXPECT_FALSE(xs.read(xen::kNoTxn, fe + "/multi-queue-num-queues").has_value());
  EXPECT_EQ(nf->mac().str(), "00:16:3e:5e:6c:00");
  const auto s = nf->status(now);
  EXPECT_TRUE(s.features.sg && s.features.gso4 && s.features.gso6);
  EXPECT_EQ(s.connects, 1u);
  // 2 ring pages, 256 tx and 256 rx buffers, all granted to sys-net.
  EXPECT_EQ(share.live_pages(), 2u + 256 + 256);
  expect_traffic();
}

TEST_F(NetfrontTest, FramesBothWaysSingleMultiSlotAndGso) {
  boot();
  for (std::size_t len : {14u, 60u, 1514u, 4096u, 4097u, 9000u, 65535u}) {
    const auto f = frame(len, uint8_t(len));
    ASSERT_TRUE(nf->send(f)) << len;
    pump();
    const auto r = backend->receive();
    ASSERT_TRUE(r.has_value()) << len;
    EXPECT_EQ(r->bytes, f) << len;
  }
  // A TCP super-frame with a partial checksum: csum_blank and a GSO extra-info slot.
  const auto big = frame(30'000, 5);
  ASSERT_TRUE(nf->send(big, TxOffload{.gso_size = 1448, .v6 = false}));
  pump();
  const auto r = backend->receive();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->bytes, big);
  EXPECT_TRUE(r->flags & NETTXF_csum_blank);
  EXPECT_EQ(r->gso_size, 1448);
  EXPECT_EQ(r->gso_type, kGsoTcpV4);
  EXPECT_EQ(backend->tx_error, 0u);
  EXPECT_EQ(nf->link()->tx_outstanding(), 0u);  // every slot answered, extra-info ones too

  for (std::size_t len : {14u, 1514u, 9000u, 65535u}) {
    got.clear();
    ASSERT_TRUE(backend->send(frame(len, 2))) << len;
    pump();
    ASSERT_EQ(got.size(), 1u) << len;
    EXPECT_EQ(got[0].bytes, frame(len, 2));
  }
  got.clear();
  ASSERT_TRUE(backend->send(big, NETRXF_csum_blank | NETRXF_data_validated, 1448, kGsoTcpV6));
  pump();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].bytes, big);
  EXPECT_TRUE(got[0].meta.csum_blank && got[0].meta.data_validated);
  EXPECT_EQ(got[0].meta.gso_size, 1448);
  EXPECT_EQ(got[0].meta.gso_type, kGsoTcpV6);
  // Many frames: buffers are re-posted, ids reused, the ring wraps several times.
  for (int i = 0; i < 2000; ++i) {
    ASSERT_TRUE(backend->send(frame(1000, uint8_t(i)))) << i;
    ASSERT_TRUE(nf->send(frame(1000, uint8_t(i)))) << i;
    if (i % 50 == 0) pump();
  }
  pump();
  EXPECT_EQ(nf->status(now).counters.rx_frames, 4u + 1 + 2000);
  EXPECT_EQ(backend->tx_ok, 7u + 1 + 2000);
  EXPECT_EQ(drops(DropReason::tx_ring_full), 0u);
}

TEST_F(NetfrontTest, Item14NoRxCopyIsRefused) {
  boot({.rx_copy = false});
  EXPECT_FALSE(nf->connected());
  EXPECT_EQ(nf->status(now).refused, "the backend does not offer feature-rx-copy");
  EXPECT_EQ(share.live_pages(), 0u);
}

TEST_F(NetfrontTest, Item14GarbageFeatureIsRefused) {
  ts.create_domain(kNet, "sys-net");
  ts.create_domain(kFw, "sys-firewall");
  ts.add_vif({.backend = kNet, .frontend = kFw, .devid = 0, .mac = "00:16:3e:5e:6c:00", .ip = "", .rate = std::nullopt});
  backend = std::make_unique<SimNetback>(hv, kNet, kFw, 0);
  backend->step();
  backend->write_key("feature-sg", "yes");
  make_frontend();
  EXPECT_FALSE(nf->connected());
  EXPECT_EQ(nf->status(now).refused, "bad feature-sg");
  backend->write_key("feature-sg", "1");  // fixed, and the backend says InitWait again
  backend->write_key("state", "2");
  pump();
  EXPECT_TRUE(nf->connected());
}

TEST_F(NetfrontTest, Item14OnlyWhatTheBackendOffers) {
  boot({.sg = false, .gso4 = false, .gso6 = false});
  ASSERT_TRUE(nf->connected());
  EXPECT_FALSE(nf->takes_gso(false));
  EXPECT_EQ(nf->max_frame(), 4096u);
  EXPECT_FALSE(nf->send(frame(9000)));
  EXPECT_EQ(drops(DropReason::tx_too_big), 1u);
  EXPECT_FALSE(nf->send(frame(1514), TxOffload{.gso_size = 1000}));
  EXPECT_EQ(drops(DropReason::tx_gso_not_negotiated), 1u);
  expect_traffic();
}

TEST_F(NetfrontTest, Item14MacAndBackendComeFromTheToolstackOnly) {
  boot();
  backend->write_key("mac", "02:00:00:00:00:01");  // the backend's own dir: not what we use
  pump();
  EXPECT_EQ(nf->mac().str(), "00:16:3e:5e:6c:00");
  // Our dir names a backend path for some other domain's vif: refused, link down.
  ASSERT_TRUE(ts.xs().write(xen::kNoTxn, "/local/domain/2/device/vif/0/backend", "/local/domain/1/backend/vif/9/0"));
  pump();
  EXPECT_FALSE(nf->connected());
  EXPECT_NE(nf->status(now).refused.find("backend is not"), std::string::npos);
}

// The vif had another frontend before (the kernel's netfront, with two queues): what it left in
// our directory is removed when we connect, else the backend reads it as ours (Linux: two
// queues at the old ring references).
TEST_F(NetfrontTest, Item14KeysAnotherFrontendLeftAreRemoved) {
  const std::string fe = "/local/domain/2/device/vif/0";
  ts.create_domain(kNet, "sys-net");
  ts.create_domain(kFw, "sys-firewall");
  ts.add_vif({.backend = kNet, .frontend = kFw, .devid = 0, .mac = "00:16:3e:5e:6c:00", .ip = "", .rate = std::nullopt});
  for (const auto& [k, v] : {std::pair{"multi-queue-num-queues", "2"}, std::pair{"queue-0/tx-ring-ref", "8"},
                             std::pair{"queue-1/event-channel", "9"}, std::pair{"xdp-headroom", "256"}})
    ASSERT_TRUE(xs.write(xen::kNoTxn, fe + "/" + k, v));
  backend = std::make_unique<SimNetback>(hv, kNet, kFw, 0, SimNetbackOptions{});
  backend->step();
  make_frontend();
  ASSERT_TRUE(nf->connected()) << "backend state " << backend->state();
  for (const char* k : {"multi-queue-num-queues", "queue-0", "queue-1", "xdp-headroom"})
    EXPECT_FALSE(xs.read(xen::kNoTxn, fe + "/" + k).has_value()) << k;
  EXPECT_EQ(xs.read(xen::kNoTxn, fe + "/mac"), "00:16:3e:5e:6c:00");  // the toolstack's keys stay
  expect_traffic();
}

TEST_F(NetfrontTest, Item15BackendClosesThenComesBack) {
  boot();
  backend->close();
  pump();
  // Linux netback: Closing -> (we Closed) -> Closed -> (we Initialising) -> InitWait -> Connected.
  EXPECT_TRUE(nf->connected()) << "no reconnect; backend state " << backend->state();
  EXPECT_EQ(nf->status(now).connects, 2u);
  expect_traffic();
}

TEST_F(NetfrontTest, Item15SysNetDestroyedAndRecreated) {
  boot();
  expect_traffic();
  // sys-net dies: its grants, ports and XenStore go; our device dir stays for now.
  backend.reset();
  hv.destroy_domain(kNet);
  ASSERT_TRUE(ts.xs().rm(xen::kNoTxn, "/local/domain/1"));
  pump();
  EXPECT_FALSE(nf->connected());
  EXPECT_FALSE(nf->send(frame(100)));
  EXPECT_EQ(drops(DropReason::tx_down), 1u);
  EXPECT_EQ(share.live_pages(), 0u);
  // The toolstack re-attaches the uplink to the new sys-net (domain 3), as qubesd does.
  const DomId net2{3};
  ASSERT_TRUE(ts.xs().rm(xen::kNoTxn, "/local/domain/2/device/vif/0"));
  pump();
  ts.create_domain(net2, "sys-net");
  ts.add_vif({.backend = net2, .frontend = kFw, .devid = 0, .mac = "00:16:3e:5e:6c:00", .ip = "", .rate = std::nullopt});
  backend = std::make_unique<SimNetback>(hv, net2, kFw, 0);
  pump();
  ASSERT_TRUE(nf->connected());
  EXPECT_EQ(nf->status(now).backend_id, net2);
  expect_traffic();
}

TEST_F(NetfrontTest, Item15XfwdRestartsWhileTheBackendIsConnected) {
  boot();
  // A crashed xfwd leaves the backend Connected to rings nobody serves. Simulate by dropping
  // the frontend object and putting back state=4 (a clean exit writes Closed).
  nf.reset();
  ASSERT_TRUE(xs.write(xen::kNoTxn, "/local/domain/2/device/vif/0/state", "4"));
  backend->step();
  ASSERT_TRUE(backend->connected());
  make_frontend();
  EXPECT_TRUE(nf->connected());
  expect_traffic();
}

TEST_F(NetfrontTest, Item1RspProdBeyondOutstandingResetsTheUplink) {
  boot();
  auto& rx = backend->raw_rx();
  rx.sring->rsp_prod = rx.rsp_prod_pvt + 300;  // more than the 256 buffers posted
  backend->raw_notify();
  pump();
  EXPECT_FALSE(nf->connected());
  const auto s = nf->status(now);
  EXPECT_EQ(s.resets, 1u);
  EXPECT_EQ(s.last_reset, DropReason::fatal_rx_rsp_prod);
  EXPECT_EQ(drops(DropReason::fatal_rx_rsp_prod), 1u);
  // Reconnected after the back-off (1 s), not before.
  advance(500ms);
  EXPECT_FALSE(nf->connected());
  advance(600ms);
  ASSERT_TRUE(nf->connected());
  expect_traffic();
}

TEST_F(NetfrontTest, Item1TxRspProdBeyondOutstanding) {
  boot({.auto_tx = false});
  ASSERT_TRUE(nf->send(frame(100)));
  pump();
  auto& tx = backend->raw_tx();
  tx.sring->rsp_prod = 2;  // one request outstanding, two answers
  backend->raw_notify();
  pump();
  EXPECT_EQ(nf->status(now).last_reset, DropReason::fatal_tx_rsp_prod);
}

// Item 3: a tx response must name an id in flight, once.
class NetfrontTxIdTest : public NetfrontTest, public ::testing::WithParamInterface<bool> {};

TEST_P(NetfrontTxIdTest, Item3DuplicateOrUnknownTxIdResets) {
  const bool duplicate = GetParam();
  boot({.auto_tx = false});
  ASSERT_TRUE(nf->send(frame(100)));
  ASSERT_TRUE(nf->send(frame(100)));
  pump();
  auto& tx = backend->raw_tx();
  netif_tx_request_t a;
  RING_COPY_REQUEST(&tx, tx.req_cons, &a);
  tx.req_cons += 2;
  *RING_GET_RESPONSE(&tx, tx.rsp_prod_pvt++) = {a.id, NETIF_RSP_OKAY};
  *RING_GET_RESPONSE(&tx, tx.rsp_prod_pvt++) = {duplicate ? a.id : uint16_t(0xffff), NETIF_RSP_OKAY};
  RING_PUSH_RESPONSES(&tx);
  backend->raw_notify();
  pump();
  EXPECT_EQ(nf->status(now).last_reset, DropReason::fatal_tx_bad_id);
  EXPECT_EQ(drops(DropReason::fatal_tx_bad_id), 1u);
}
INSTANTIATE_TEST_SUITE_P(DuplicateAndUnknown, NetfrontTxIdTest, ::testing::Bool());

TEST_F(NetfrontTest, Item5TxStatusesOnlyOkayErrorDroppedOrNullForExtras) {
  boot({.auto_tx = false});
  ASSERT_TRUE(nf->send(frame(100)));
  ASSERT_TRUE(nf->send(frame(100)));
  pump();
  auto& tx = backend->raw_tx();
  netif_tx_request_t a, b;
  RING_COPY_REQUEST(&tx, tx.req_cons++, &a);
  RING_COPY_REQUEST(&tx, tx.req_cons++, &b);
  *RING_GET_RESPONSE(&tx, tx.rsp_prod_pvt++) = {a.id, NETIF_RSP_ERROR};
  *RING_GET_RESPONSE(&tx, tx.rsp_prod_pvt++) = {b.id, NETIF_RSP_DROPPED};
  RING_PUSH_RESPONSES(&tx);
  backend->raw_notify();
  pump();
  EXPECT_EQ(drops(DropReason::tx_error), 1u);
  EXPECT_EQ(drops(DropReason::tx_dropped), 1u);
  EXPECT_EQ(nf->link()->tx_outstanding(), 0u);
  EXPECT_TRUE(nf->connected());
  // A NULL answer where no extra-info slot was sent.
  ASSERT_TRUE(nf->send(frame(100)));
  pump();
  RING_COPY_REQUEST(&tx, tx.req_cons++, &a);
  *RING_GET_RESPONSE(&tx, tx.rsp_prod_pvt++) = {a.id, NETIF_RSP_NULL};
  RING_PUSH_RESPONSES(&tx);
  backend->raw_notify();
  pump();
  EXPECT_EQ(nf->status(now).last_reset, DropReason::fatal_tx_bad_status);
}

TEST_F(NetfrontTest, Item3RxIdNotTheBufferOfItsSlotResets) {
  boot();
  auto rsp = data_slot(0, 60);
  rsp.id = uint16_t(rsp.id + 1);
  rx_respond_slots({rsp});
  pump();
  EXPECT_EQ(nf->status(now).last_reset, DropReason::fatal_rx_bad_id);
  EXPECT_TRUE(got.empty());
}

// Item 4: per-frame errors drop that frame only; the next one is delivered.
TEST_F(NetfrontTest, Item4BadRxResponsesDropOneFrameEach) {
  boot();
  struct Case {
    const char* what;
    DropReason reason;
    std::function<void()> respond;
  };
  const Case cases[] = {
      {"negative status", DropReason::rx_error, [&] { rx_respond_slots({data_slot(0, NETIF_RSP_ERROR)}); }},
      {"offset + size > 4096", DropReason::rx_slot_crosses_page, [&] { rx_respond_slots({data_slot(0, 200, 4000)}); }},
      {"runt", DropReason::rx_runt, [&] { rx_respond_slots({data_slot(0, 10)}); }},
      {"19 slots", DropReason::rx_too_many_slots, [&] {
         pending_rsps_ = 0;
         auto& rx = backend->raw_rx();
         for (int k = 0; k < 19; ++k) {
           const auto r = data_slot(k < 18 ? NETRXF_more_data : 0, 100);
           *RING_GET_RESPONSE(&rx, rx.rsp_prod_pvt + k) = r;
         }
         rx.rsp_prod_pvt += 19;
         rx.req_cons += 19;
         RING_PUSH_RESPONSES(&rx);
         backend->raw_notify();
       }},
      {"17 slots of 4096 (> 65535 + 14)", DropReason::rx_too_big, [&] {
         pending_rsps_ = 0;
         auto& rx = backend->raw_rx();
         for (int k = 0; k < 17; ++k) {
           *RING_GET_RESPONSE(&rx, rx.rsp_prod_pvt + k) = data_slot(k < 16 ? NETRXF_more_data : 0, 4096);
         }
         rx.rsp_prod_pvt += 17;
         rx.req_cons += 17;
         RING_PUSH_RESPONSES(&rx);
         backend->raw_notify();
       }},
      {"extra of type MCAST_ADD", DropReason::rx_bad_extra, [&] {
         pending_rsps_ = 0;
         auto first = data_slot(NETRXF_extra_info, 100);
         netif_extra_info_t e{};
         e.type = XEN_NETIF_EXTRA_TYPE_MCAST_ADD;
         ++pending_rsps_;
         rx_respond({first, as_response(e)});
       }},
      {"GSO size 0", DropReason::rx_bad_gso, [&] {
         pending_rsps_ = 0;
         auto first = data_slot(NETRXF_extra_info, 100);
         netif_extra_info_t e{};
         e.type = XEN_NETIF_EXTRA_TYPE_GSO;
         e.u.gso.type = kGsoTcpV4;
         ++pending_rsps_;
         rx_respond({first, as_response(e)});
       }},
      {"5 extras", DropReason::rx_bad_extra, [&] {
         pending_rsps_ = 0;
         auto first = data_slot(NETRXF_extra_info, 100);
         netif_extra_info_t e{};
         e.type = XEN_NETIF_EXTRA_TYPE_GSO;
         e.flags = XEN_NETIF_EXTRA_FLAG_MORE;
         e.u.gso = {1448, kGsoTcpV4, 0, 0};
         const netif_rx_response_t x = as_response(e);
         e.flags = 0;
         const netif_rx_response_t last = as_response(e);
         pending_rsps_ += 5;
         rx_respond({first, x, x, x, x, last});
       }},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    got.clear();
    const uint64_t before = drops(c.reason);
    c.respond();
    pump();
    EXPECT_EQ(drops(c.reason), before + 1);
    EXPECT_TRUE(got.empty());
    ASSERT_TRUE(nf->connected());
    expect_traffic();
  }
}

// Items 2 and 7: a response and its data are copied once; what the backend writes afterwards
// (here: while the frame is being handled) changes nothing we already took.
TEST_F(NetfrontTest, Items2And7BackendRewritesAfterTheCopyChangeNothing) {
  boot();
  const auto f = frame(3000, 4);
  on_rx = [&](const RxFrame& rf) {
    // Scribble over every rx page and the ring the frame came through.
    for (uint32_t i = 0; i < 256; ++i) {
      const auto junk = frame(4096, 0xEE);
      backend->raw_write_page(xen::GrantRef{posted(i).gref}, 0, junk);
    }
    std::memset(backend->raw_rx_page() + 64, 0xAB, 4096 - 64);
    EXPECT_EQ(std::vector<std::byte>(rf.bytes.begin(), rf.bytes.end()), f);
  };
  ASSERT_TRUE(backend->send(f));
  pump();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].bytes, f);
}

// A pass's frames stay where the receiver saw them, unchanged, until the pass ends (the receiver
// may hand them on by reference: netback's held copies); a frame the pass left unfinished is
// completed in the next.
TEST_F(NetfrontTest, APassesFramesStayPutUntilItsEnd) {
  boot();
  std::vector<std::span<const std::byte>> seen;
  int ends = 0;
  nf->set_receiver([&](const RxFrame& f) { seen.push_back(f.bytes); got.push_back({{f.bytes.begin(), f.bytes.end()}, f}); },
                   [&] {
                     ++ends;  // this pass's frames, as they were when received
                     const std::size_t first = got.size() - seen.size();
                     for (std::size_t i = 0; i < seen.size(); ++i)
                       EXPECT_EQ(std::vector<std::byte>(seen[i].begin(), seen[i].end()), got[first + i].bytes) << i;
                     for (std::size_t i = 1; i < seen.size(); ++i) EXPECT_NE(seen[i].data(), seen[i - 1].data());
                     seen.clear();
                   });
  got.clear();
  const auto size = [](int i) { return std::size_t(i == 0 ? 1500 : 40000); };
  for (int i = 0; i < 15; ++i) ASSERT_TRUE(backend->send(frame(size(i), uint8_t(i))));
  nf->on_events(now);
  while (nf->poll(now)) {
  }
  ASSERT_EQ(got.size(), 15u);
  EXPECT_EQ(ends, 2);  // 560 KB: more than the arena (8 frames of the largest size) takes at once
  for (int i = 0; i < 15; ++i) EXPECT_EQ(got[std::size_t(i)].bytes, frame(size(i), uint8_t(i))) << i;

  // One frame ends a pass, the next is half there: it is finished in the following pass.
  got.clear();
  const uint32_t base = backend->raw_rx().rsp_prod_pvt;
  rx_respond_slots({data_slot(0, 100), data_slot(NETRXF_more_data, 200)});
  nf->on_events(now);
  (void)nf->poll(now);
  ASSERT_EQ(got.size(), 1u);
  rx_respond_slots({data_slot(0, 300)});
  nf->on_events(now);
  (void)nf->poll(now);
  ASSERT_EQ(got.size(), 2u);
  auto want = frame(200, uint8_t(base + 1));
  const auto tail = frame(300, uint8_t(base + 2));
  want.insert(want.end(), tail.begin(), tail.end());
  EXPECT_EQ(got[0].bytes, frame(100, uint8_t(base)));
  EXPECT_EQ(got[1].bytes, want);
}

// Item 6: we never read a request back from the ring: a backend that rewrites our posted
// requests cannot change which buffer or id we use next.
TEST_F(NetfrontTest, Item6RewrittenRequestsAreNotReadBack) {
  boot();
  auto& rx = backend->raw_rx();
  const uint32_t i = rx.req_cons;
  const auto original = posted(i);
  for (uint32_t k = 0; k < 256; ++k) {
    auto* r = RING_GET_REQUEST(&rx, i + k);
    r->gref = 0xdead;
    r->id = 0xbeef;
  }
  // The backend answers slot i as the protocol says (the slot's buffer, id i & 255).
  ASSERT_TRUE(backend->raw_write_page(xen::GrantRef{original.gref}, 0, frame(80, 6)));
  rx_respond({{uint16_t(i & 255), 0, 0, 80}});
  pump();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].bytes, frame(80, 6));
  // The buffer went back at index i + 256 with its own gref and id, from our state.
  const auto reposted = posted(i + 256);
  EXPECT_EQ(reposted.gref, original.gref);
  EXPECT_EQ(reposted.id, original.id);
}

// Item 8: granted pages hold nothing but what the backend is meant to see.
TEST_F(NetfrontTest, Item8PagesHoldOnlyTheFrame) {
  boot({.auto_tx = false});
  // Receive buffers are zero when granted.
  std::vector<std::byte> page(4096);
  auto& rx = backend->raw_rx();
  for (uint32_t i = 0; i < 256; ++i) {
    xen::GrantCopy op;
    op.dom = kFw;
    op.ref = xen::GrantRef{RING_GET_REQUEST(&rx, i)->gref};
    op.len = 4096;
    op.local = page.data();
    backend->gnt().copy(std::span(&op, 1));
    ASSERT_EQ(op.status, xen::GntStatus::okay);
    ASSERT_TRUE(std::all_of(page.begin(), page.end(), [](std::byte b) { return b == std::byte{0}; })) << i;
  }
  // A long frame then a short one in the same page: past the short one, zeros.
  auto& tx = backend->raw_tx();
  auto answer_all = [&] {
    while (tx.req_cons != tx.sring->req_prod) {
      netif_tx_request_t r;
      RING_COPY_REQUEST(&tx, tx.req_cons++, &r);
      *RING_GET_RESPONSE(&tx, tx.rsp_prod_pvt++) = {r.id, NETIF_RSP_OKAY};
    }
    RING_PUSH_RESPONSES(&tx);
    backend->raw_notify();
    pump();
  };
  ASSERT_TRUE(nf->send(frame(3000, 1)));
  nf->flush();
  netif_tx_request_t long_req;
  RING_COPY_REQUEST(&tx, tx.req_cons, &long_req);
  answer_all();
  ASSERT_TRUE(nf->send(frame(100, 2)));
  nf->flush();
  netif_tx_request_t short_req;
  RING_COPY_REQUEST(&tx, tx.req_cons, &short_req);
  ASSERT_EQ(short_req.gref, long_req.gref);  // the same page, reused
  xen::GrantCopy op;
  op.dom = kFw;
  op.ref = xen::GrantRef{short_req.gref};
  op.len = 4096;
  op.local = page.data();
  backend->gnt().copy(std::span(&op, 1));
  ASSERT_EQ(op.status, xen::GntStatus::okay);
  EXPECT_TRUE(std::equal(page.begin(), page.begin() + 100, frame(100, 2).begin()));
  EXPECT_TRUE(std::all_of(page.begin() + 100, page.end(), [](std::byte b) { return b == std::byte{0}; }));
  // Transmit pages are read-only to the backend.
  op.dir = xen::GrantCopy::Dir::to_guest;
  backend->gnt().copy(std::span(&op, 1));
  EXPECT_EQ(op.status, xen::GntStatus::permission_denied);
}

// Items 9 and 13: a page the backend still maps is not reused or freed when the link goes;
// it is let go once the backend unmaps it.
TEST_F(NetfrontTest, Items9And13PagesTheBackendStillMapsAreKept) {
  boot();
  ASSERT_TRUE(backend->raw_hold_mapping(xen::GrantRef{posted(0).gref}));
  ASSERT_TRUE(backend->raw_hold_mapping(xen::GrantRef{posted(1).gref}));
  backend->close();
  pump();  // the link is torn down and made again
  EXPECT_TRUE(nf->connected());
  EXPECT_EQ(hv.deferred_pages(), 256u);  // the rx block of the old link, kept whole
  EXPECT_EQ(share.live_pages(), 514u);
  backend->raw_release_mappings();
  EXPECT_EQ(hv.deferred_pages(), 0u);
  EXPECT_EQ(hv.grants_of(kFw), 514u);  // only the new link's
  expect_traffic();
}

// Item 10: the event indices are hints; garbage in them costs notifications, not correctness.
TEST_F(NetfrontTest, Item10ScribbledEventIndicesAreOnlyHints) {
  boot();
  for (uint32_t garbage : {0u, 0x7fffffffu, 0xffffffffu}) {
    backend->raw_tx().sring->req_event = garbage;
    backend->raw_rx().sring->req_event = garbage;
    backend->raw_tx().sring->rsp_event = garbage;
    backend->raw_rx().sring->rsp_event = garbage;
    expect_traffic();
  }
  EXPECT_EQ(nf->status(now).resets, 0u);
}

// Item 11: an event storm costs bounded work; the port stays masked for a growing back-off.
TEST_F(NetfrontTest, Item11EventStormIsBackedOff) {
  boot();
  const uint64_t before = nf->status(now).counters.events;
  for (int i = 0; i < 10'000; ++i) {
    backend->raw_notify();
    nf->on_events(now);
    while (nf->poll(now)) {
    }
  }
  const auto s = nf->status(now);
  EXPECT_LT(s.counters.events - before, 50u);  // masked: most kicks never reach us
  EXPECT_GT(s.counters.spurious_events, 8u);
  ASSERT_TRUE(nf->next_deadline().has_value());  // the unmask, later
  EXPECT_FALSE(nf->on_timer(now));                // not yet
  EXPECT_TRUE(nf->on_timer(*nf->next_deadline()));  // then a pass is due: the caller runs it
  advance(300ms);
  expect_traffic();
}

// Item 11: a backend that fills every RX buffer gets one bounded pass per poll(), so the
// daemon's loop turns between passes (the vifs and the other fds are served meanwhile).
TEST_F(NetfrontTest, Item11AFullRxRingIsServedInBoundedPasses) {
  boot();
  got.clear();
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(backend->send(frame(100, uint8_t(i))));
  nf->on_events(now);
  ASSERT_TRUE(nf->poll(now));  // more left after the first pass
  EXPECT_EQ(got.size(), 64u);  // rx_budget frames, no more
  int passes = 1;
  while (nf->poll(now)) ++passes;
  pump();
  EXPECT_EQ(got.size(), 200u);
  EXPECT_GE(passes, 3);
}

// Item 12: a backend that stops answering stalls nothing: full ring, frames dropped, counted.
TEST_F(NetfrontTest, Item12SilentBackendDropsAndCounts) {
  boot({.auto_tx = false});
  int sent = 0;
  for (int i = 0; i < 400; ++i) sent += nf->send(frame(100)) ? 1 : 0;
  nf->flush();
  EXPECT_EQ(sent, 256);
  EXPECT_EQ(drops(DropReason::tx_ring_full), 144u);
  EXPECT_FALSE(nf->status(now).tx_stalled);
  EXPECT_TRUE(nf->status(now + 6s).tx_stalled);
  // Receiving still works.
  got.clear();
  ASSERT_TRUE(backend->send(frame(64)));
  pump();
  EXPECT_EQ(got.size(), 1u);
}

// Transmit answers are collected lazily: while the ring has room the backend is asked for no
// event per answered frame (at a low rate that was a second wake-up of xfwd per frame sent).
TEST_F(NetfrontTest, AnsweredFramesWakeNobodyWhileTheRingHasRoom) {
  boot();
  const uint64_t events = nf->status(now).counters.events, notifies = backend->notifies_sent;
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(nf->send(frame(100, uint8_t(i))));
    pump();
  }
  for (int i = 0; i < 20; ++i) {
    const auto r = backend->receive();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->bytes, frame(100, uint8_t(i)));
  }
  EXPECT_EQ(backend->tx_ok, 20u);
  EXPECT_EQ(backend->notifies_sent - notifies, 0u);
  EXPECT_EQ(nf->status(now).counters.events - events, 0u);
  EXPECT_FALSE(nf->status(now + 6s).tx_stalled);  // the passes collected what was answered
}

// With more than half of the ring outstanding, the backend is asked for an event once half of
// it is answered (as Linux's netfront), and a send that finds the ring short collects first.
TEST_F(NetfrontTest, AFullerRingAsksForAnEventAndSendCollectsFirst) {
  boot();
  const uint64_t notifies = backend->notifies_sent;
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(nf->send(frame(100)));
  nf->flush();
  (void)nf->poll(now);  // nothing answered yet: asks for an event at half of the 200
  backend->step();      // answers all 200
  EXPECT_EQ(backend->notifies_sent - notifies, 1u);
  // No pass of the frontend's from here: send() itself takes in the answers when it runs short.
  for (int i = 0; i < 600; ++i) {
    ASSERT_TRUE(nf->send(frame(100, uint8_t(i)))) << i;
    nf->flush();
    backend->step();
  }
  EXPECT_EQ(drops(DropReason::tx_ring_full), 0u);
  EXPECT_EQ(backend->tx_ok, 800u);
}

TEST_F(NetfrontTest, CleanShutdownTellsTheBackend) {
  boot();
  nf.reset();
  EXPECT_EQ(xs.read(xen::kNoTxn, "/local/domain/2/device/vif/0/state"), "6");
  backend->step();
  EXPECT_EQ(backend->state(), 6);
  EXPECT_EQ(share.live_pages(), 0u);
  make_frontend();  // a restarted xfwd connects again
  EXPECT_TRUE(nf->connected());
  expect_traffic();
}

TEST_F(NetfrontTest, NoVifIsAClearError) {
  ts.create_domain(kFw, "sys-firewall");
  Netfront bare(xs, share, evt, {});
  std::string err;
  EXPECT_FALSE(bare.start(&err));
  EXPECT_EQ(err, "no vif under /local/domain/2/device/vif (the uplink's frontend)");
}

}  // namespace
}  // namespace xfw::netfront
