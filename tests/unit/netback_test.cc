// End-to-end tests of netback against the simulated hypervisor and simulated Linux-like
// netfronts: handshake, both data directions, multi-slot, many vifs, teardown, reconnect,
// credit, receive stall.
#include <gtest/gtest.h>

#include "netback/device.h"
#include "tests/support/world.h"

namespace xfw::testing {
namespace {

using namespace std::chrono_literals;
using xen::XenbusState;

TEST(Netback, AttachesAutomaticallyAndConnects) {
  World w;
  auto& fe = w.add_guest(DomId{5}, "work", "10.137.0.5");
  w.settle();
  EXPECT_TRUE(fe.connected());
  EXPECT_EQ(w.backend_key(DomId{5}, "state"), "4");
  EXPECT_EQ(w.backend_key(DomId{5}, "feature-rx-copy"), "1");
  EXPECT_EQ(w.backend_key(DomId{5}, "feature-gso-tcpv4"), "1");
  EXPECT_EQ(w.backend_key(DomId{5}, "feature-gso-tcpv6"), "1");
  EXPECT_EQ(w.backend_key(DomId{5}, "hotplug-status"), "connected");
  ASSERT_EQ(w.sink.up.size(), 1u);
  // A driver domain may not read other domains' /local/domain/<id>/name: no name.
  EXPECT_EQ(w.sink.up[0].name, "");
  ASSERT_EQ(w.sink.up[0].ips.v4.size(), 1u);
  EXPECT_EQ(w.sink.up[0].ips.v4[0].str(), "10.137.0.5");
  EXPECT_EQ(w.sink.up[0].mac.str(), "00:16:3e:5e:6c:00");
  EXPECT_EQ(w.hv.mapped_grants_of(DomId{5}), 2u);  // exactly the two ring pages
}

TEST(Netback, Dom0BackendKnowsTheVmName) {
  World w({}, DomId{0});
  w.add_guest(DomId{5}, "work", "10.137.0.5");
  w.settle();
  ASSERT_EQ(w.sink.up.size(), 1u);
  EXPECT_EQ(w.sink.up[0].name, "work");
}

TEST(Netback, FrameFromGuestArrivesIntactWithChecksumClaims) {
  World w;
  auto& fe = w.add_guest(DomId{5}, "work", "10.137.0.5");
  w.settle();
  const auto f = make_frame(60);
  ASSERT_TRUE(fe.send(f));
  w.settle();
  ASSERT_EQ(w.sink.frames.size(), 1u);
  EXPECT_EQ(w.sink.frames[0].data, f);
  EXPECT_TRUE(w.sink.frames[0].flags.csum_blank);
  EXPECT_EQ(fe.tx_ok, 1u);
  EXPECT_EQ(fe.tx_in_flight(), 0u);
}

TEST(Netback, MultiSlotFramesFromGuest) {
  World w;
  auto& fe = w.add_guest(DomId{5}, "work", "10.137.0.5");
  w.settle();
  const auto a = make_frame(3000, 3);
  const uint16_t split[] = {1000, 1500, 500};
  ASSERT_TRUE(fe.send(a, split));
  const auto b = make_frame(9000, 4);  // three page-sized slots
  ASSERT_TRUE(fe.send(b));
  const auto c = make_frame(65535, 5);  // the largest frame netif can describe
  ASSERT_TRUE(fe.send(c));
  w.settle();
  ASSERT_EQ(w.sink.frames.size(), 3u);
  EXPECT_EQ(w.sink.frames[0].data, a);
  EXPECT_EQ(w.sink.frames[1].data, b);
  EXPECT_EQ(w.sink.frames[2].data, c);
  EXPECT_EQ(fe.tx_ok, 3u + 3u + 16u);
}

TEST(Netback, FramesToGuestSingleAndMultiSlot) {
  World w;
  auto& fe = w.add_guest(DomId{5}, "work", "10.137.0.5");
  w.settle();
  const auto id = w.vif_id(DomId{5});
  const auto small = make_frame(64, 9), big = make_frame(10000, 10);
  ASSERT_TRUE(w.nb.to_guest(id, small));
  ASSERT_TRUE(w.nb.to_guest(id, big));
  w.settle();
  EXPECT_EQ(fe.receive(), small);
  EXPECT_EQ(fe.receive(), big);
  EXPECT_EQ(fe.receive(), std::nullopt);
  EXPECT_EQ(w.status(DomId{5})->counters.to_guest_packets, 2u);
}

// A super-frame (rx_now_min bytes or more) for a guest with buffers posted goes into them at
// once, from the caller's memory (no copy into the receive queue); a frame behind a queued one
// waits its turn. The guest gets one event for all of it, with the vif's next pass.
TEST(Netback, SuperFrameGoesToTheGuestAtOnceInOrder) {
  World w;
  auto& fe = w.add_guest(DomId{5}, "work", "10.137.0.5");
  w.settle();
  const auto id = w.vif_id(DomId{5});
  const uint32_t before = fe.raw_rx()->rsp_prod;
  const uint64_t events_before = w.status(DomId{5})->counters.notifications;
  const auto big = make_frame(30000, 7), small = make_frame(100, 1), big2 = make_frame(20000, 8);
  auto held = big;  // the caller's buffer, reused right after the call
  ASSERT_TRUE(w.nb.to_guest(id, held, netback::Gso{1448, netback::kGsoTcpV4}));
  std::fill(held.begin(), held.end(), std::byte{0});
  EXPECT_EQ(fe.raw_rx()->rsp_prod - before, 8u + 1u);  // 8 pages and the GSO slot, answered already
  ASSERT_TRUE(w.nb.to_guest(id, small));  // small: queued
  ASSERT_TRUE(w.nb.to_guest(id, big2));   // behind it: queued too
  EXPECT_EQ(fe.raw_rx()->rsp_prod - before, 9u);
  w.settle();
  EXPECT_EQ(fe.receive(), big);
  EXPECT_EQ(fe.receive(), small);
  EXPECT_EQ(fe.receive(), big2);
  EXPECT_EQ(fe.receive(), std::nullopt);
  const auto st = w.status(DomId{5});
  EXPECT_EQ(st->counters.to_guest_packets, 3u);
  EXPECT_EQ(st->counters.notifications - events_before, 1u);
}

// Held super-frames (the caller keeps them until flush_held(): the uplink's pass) take their
// buffers at once and are copied together, in one grant copy, at the flush; a frame for the same
// guest that is not held waits behind them; the guest's event comes with its next pass.
TEST(Netback, HeldSuperFramesGoInOneCopyAtTheFlush) {
  World w;
  auto& a = w.add_guest(DomId{5}, "work", "10.137.0.5");
  auto& b = w.add_guest(DomId{6}, "personal", "10.137.0.6");
  w.settle();
  const auto ida = w.vif_id(DomId{5}), idb = w.vif_id(DomId{6});
  const netback::Gso gso{1448, netback::kGsoTcpV4};
  const auto f1 = make_frame(30000, 1), f2 = make_frame(20000, 2), f3 = make_frame(9000, 3), small = make_frame(100, 4);
  const uint32_t before_a = a.raw_rx()->rsp_prod, before_b = b.raw_rx()->rsp_prod;
  const std::size_t copies = w.be_gnt.copy_calls();
  ASSERT_TRUE(w.nb.to_guest(ida, f1, gso, true));
  ASSERT_TRUE(w.nb.to_guest(idb, f2, gso, true));
  ASSERT_TRUE(w.nb.to_guest(ida, small));  // not held: queued behind f1
  ASSERT_TRUE(w.nb.to_guest(ida, f3, gso, true));  // a frame is queued before it: queued too
  EXPECT_EQ(w.be_gnt.copy_calls(), copies);  // nothing copied yet
  EXPECT_EQ(a.raw_rx()->rsp_prod, before_a);   // nor answered
  w.nb.flush_held();
  EXPECT_EQ(w.be_gnt.copy_calls(), copies + 1);  // f1 and f2 together
  EXPECT_EQ(a.raw_rx()->rsp_prod - before_a, 8u + 1u);
  EXPECT_EQ(b.raw_rx()->rsp_prod - before_b, 5u + 1u);
  w.nb.flush_held();  // nothing left: no call
  EXPECT_EQ(w.be_gnt.copy_calls(), copies + 1);
  w.settle();
  EXPECT_EQ(a.receive(), f1);
  EXPECT_EQ(a.receive(), small);
  EXPECT_EQ(a.receive(), f3);
  EXPECT_EQ(a.receive(), std::nullopt);
  EXPECT_EQ(b.receive(), f2);
  EXPECT_EQ(w.status(DomId{5})->counters.to_guest_packets, 3u);
  EXPECT_EQ(w.status(DomId{6})->counters.to_guest_packets, 1u);
}

// A vif torn down with held frames: they are answered first (no dangling reference), and
// everything after is refused.
TEST(Netback, HeldFramesAreFlushedBeforeTheirVifGoes) {
  World w;
  auto& a = w.add_guest(DomId{5}, "work", "10.137.0.5");
  w.settle();
  const auto id = w.vif_id(DomId{5});
  const std::size_t copies = w.be_gnt.copy_calls();
  const auto held = make_frame(30000, 1);  // the caller keeps it until the flush
  ASSERT_TRUE(w.nb.to_guest(id, held, netback::Gso{1448, netback::kGsoTcpV4}, true));
  a.close();
  w.nb.on_xenstore(w.now);  // the frontend's Closing: the vif goes (before any pass)
  EXPECT_EQ(w.be_gnt.copy_calls(), copies + 1);  // its held frame was copied and answered first
  EXPECT_EQ(w.status(DomId{5})->counters.to_guest_packets, 1u);
  w.settle();
  EXPECT_FALSE(w.nb.to_guest(id, held, netback::Gso{1448, netback::kGsoTcpV4}, true));
  w.nb.flush_held();
  EXPECT_EQ(w.be_gnt.copy_calls(), copies + 1);
}

// While passes follow each other (the guest keeps queueing faster than a pass takes), its event
// waits for the last of them, or for a quarter ring (64 slots) answered since the one before.
TEST(Netback, BackToBackPassesShareTheGuestsEvent) {
  netback::NetbackConfig cfg;
  cfg.limits.tx_budget = 4;
  World w(cfg);
  auto& fe = w.add_guest(DomId{5}, "work", "10.137.0.5");
  w.settle();
  w.sink.keep = false;
  const uint64_t before = w.status(DomId{5})->counters.notifications;
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(fe.send(make_frame(60)));
  w.nb.on_events(w.now);
  std::vector<uint64_t> events;  // the guest's events after each pass
  for (int pass = 0; pass < 25; ++pass) {
    w.nb.poll(w.now);
    fe.step();  // the guest takes what its event says is there, and asks for the next
    events.push_back(w.status(DomId{5})->counters.notifications - before);
  }
  EXPECT_EQ(events[14], 0u);  // 60 slots answered, passes to follow
  EXPECT_EQ(events[15], 1u);  // 64
  EXPECT_EQ(events[23], 1u);
  EXPECT_EQ(events[24], 2u);  // the last pass: nothing follows
  EXPECT_EQ(fe.tx_ok, 100u);
  EXPECT_EQ(fe.tx_in_flight(), 0u);
  EXPECT_FALSE(w.nb.poll(w.now));
}

TEST(Netback, GuestWithoutSgGetsNoMultiSlotFrames) {
  World w;
  xen::sim::SimNetfrontOptions opt;
  opt.sg = false;
  auto& fe = w.add_guest(DomId{5}, "work", "10.137.0.5", opt);
  w.settle();
  const auto id = w.vif_id(DomId{5});
  EXPECT_FALSE(w.nb.to_guest(id, make_frame(5000)));
  EXPECT_TRUE(w.nb.to_guest(id, make_frame(1500)));
  w.settle();
  EXPECT_EQ(fe.rx_frames, 1u);
  EXPECT_EQ(w.status(DomId{5})->counters.drops[size_t(netback::DropReason::rx_too_big)], 1u);
}

// A TCP super-frame for a guest that offered feature-gso-tcpv4: one data slot per page plus
// the GSO extra-info slot right after the first, flagged csum_blank (Linux netback's layout).
TEST(Netback, GsoFrameGoesWithItsExtraInfoSlot) {
  World w;
  auto& fe = w.add_guest(DomId{5}, "work", "10.137.0.5");
  w.settle();
  const auto id = w.vif_id(DomId{5});
  ASSERT_TRUE(w.nb.takes_gso(id, netback::kGsoTcpV4));
  const auto big = make_frame(30000, 7);
  for (int i = 0; i < 3; ++i) {  // three, so that the extra slots land at varying ring positions
    ASSERT_TRUE(w.nb.to_guest(id, big, netback::Gso{1448, netback::kGsoTcpV4}));
    ASSERT_TRUE(w.nb.to_guest(id, make_frame(100, uint8_t(i))));
  }
  w.settle();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(fe.receive(), big);
    EXPECT_EQ(fe.receive(), make_frame(100, uint8_t(i)));
  }
  ASSERT_EQ(fe.rx_gso_extras.size(), 3u);
  EXPECT_EQ(fe.rx_gso_extras[0].type, XEN_NETIF_EXTRA_TYPE_GSO);
  EXPECT_EQ(fe.rx_gso_extras[0].u.gso.size, 1448);
  EXPECT_EQ(fe.rx_gso_extras[0].u.gso.type, XEN_NETIF_GSO_TYPE_TCPV4);
  EXPECT_EQ(fe.rx_csum_blank, 3u);
  EXPECT_EQ(fe.rx_errors, 0u);
}

TEST(Netback, GuestWithoutGsoGetsNoGsoFrame) {
  World w;
  xen::sim::SimNetfrontOptions opt;
  opt.rx_gso = false;
  auto& fe = w.add_guest(DomId{5}, "work", "10.137.0.5", opt);
  w.settle();
  const auto id = w.vif_id(DomId{5});
  EXPECT_FALSE(w.nb.takes_gso(id, netback::kGsoTcpV4));
  EXPECT_FALSE(w.nb.to_guest(id, make_frame(30000), netback::Gso{1448, netback::kGsoTcpV4}));
  w.settle();
  EXPECT_EQ(fe.rx_frames, 0u);
  EXPECT_EQ(w.status(DomId{5})->counters.drops[size_t(netback::DropReason::rx_gso_not_negotiated)], 1u);
}

TEST(Netback, ManyVifsAtOnceEchoTraffic) {
  World w;
  w.sink.echo = true;
  w.sink.keep = false;
  constexpr int kGuests = 40;
  for (int i = 0; i < kGuests; ++i) {
    w.add_guest(DomId{uint16_t(10 + i)}, "vm" + std::to_string(i),
                "10.137.0." + std::to_string(10 + i));
  }
  w.settle();
  EXPECT_EQ(w.nb.connected_vifs(), size_t(kGuests));
  for (int round = 0; round < 5; ++round) {
    for (int i = 0; i < kGuests; ++i) {
      ASSERT_TRUE(w.front(DomId{uint16_t(10 + i)}).send(make_frame(100 + i, uint8_t(i))));
    }
    w.settle();
  }
  for (int i = 0; i < kGuests; ++i) {
    auto& fe = w.front(DomId{uint16_t(10 + i)});
    EXPECT_EQ(fe.rx_frames, 5u);
    EXPECT_EQ(fe.receive(), make_frame(100 + i, uint8_t(i)));
  }
}

TEST(Netback, FrontendCloseTearsDownEverything) {
  World w;
  auto& fe = w.add_guest(DomId{5}, "work", "10.137.0.5");
  auto& other = w.add_guest(DomId{6}, "other", "10.137.0.6");
  w.settle();
  const auto id = w.vif_id(DomId{5});
  fe.close();
  w.settle();
  EXPECT_EQ(fe.state(), 6);
  EXPECT_EQ(w.backend_key(DomId{5}, "state"), "6");
  EXPECT_EQ(w.hv.mapped_grants_of(DomId{5}), 0u);
  ASSERT_EQ(w.sink.down.size(), 1u);
  EXPECT_EQ(w.sink.down[0], id);
  EXPECT_FALSE(w.nb.to_guest(id, make_frame(60)));  // stale id refused
  EXPECT_TRUE(other.connected());
  EXPECT_EQ(w.be_evt.bound_ports(), 1u);  // only the other vif's port is left
}

TEST(Netback, ToolstackRemovalAndForget) {
  World w;
  w.add_guest(DomId{5}, "work", "10.137.0.5");
  w.settle();
  w.ts.remove_vif(w.backend, DomId{5}, 0);  // libxl: online=0, state=5
  w.settle();
  // Closed, readable for libxl's wait for state 6 (it fails the removal if the directory is
  // gone first) ...
  EXPECT_EQ(w.backend_key(DomId{5}, "state"), "6");
  ASSERT_TRUE(w.nb.next_deadline().has_value());
  w.advance(netback::Device::kRemoveGrace - std::chrono::milliseconds(1));
  w.settle();
  EXPECT_EQ(w.backend_key(DomId{5}, "state"), "6");
  // ... then the backend directory removed by us (libxl waits for that in a driver domain).
  w.advance(std::chrono::milliseconds(1));
  w.settle();
  EXPECT_EQ(w.backend_key(DomId{5}, "state"), std::nullopt);
  EXPECT_FALSE(w.be_xs.read(xfw::xen::kNoTxn, "/local/domain/" + std::to_string(w.backend.value()) + "/backend/vif/5/0"));
  EXPECT_EQ(w.hv.mapped_grants_of(DomId{5}), 0u);
  w.ts.forget_vif(w.backend, DomId{5}, 0);
  w.remove_front(DomId{5});
  w.settle();
  EXPECT_TRUE(w.nb.devices().empty());
  EXPECT_EQ(w.be_evt.bound_ports(), 0u);
}

TEST(Netback, DomainDestroyWhileConnected) {
  World w;
  w.add_guest(DomId{5}, "work", "10.137.0.5");
  auto& other = w.add_guest(DomId{6}, "other", "10.137.0.6");
  w.settle();
  w.ts.destroy_domain(DomId{5}, w.backend);
  w.settle();
  EXPECT_TRUE(w.nb.devices().size() == 1);
  EXPECT_EQ(w.be_gnt.live_mappings(), 2u);  // only the other vif's rings
  ASSERT_TRUE(other.send(make_frame(80)));
  w.settle();
  EXPECT_EQ(w.sink.frames.size(), 1u);
}

TEST(Netback, FrontendReinitialisesAndReconnects) {
  World w;
  auto& fe = w.add_guest(DomId{5}, "work", "10.137.0.5");
  w.settle();
  fe.reinit();
  w.settle();
  EXPECT_TRUE(fe.connected());
  EXPECT_EQ(w.sink.up.size(), 2u);
  EXPECT_EQ(w.sink.down.size(), 1u);
  EXPECT_EQ(w.hv.mapped_grants_of(DomId{5}), 2u);
  ASSERT_TRUE(fe.send(make_frame(70)));
  w.settle();
  EXPECT_EQ(w.sink.frames.size(), 1u);
  ASSERT_TRUE(w.nb.to_guest(w.vif_id(DomId{5}), make_frame(71)));
  w.settle();
  EXPECT_EQ(fe.rx_frames, 1u);
}

TEST(Netback, RestartedBackendResumesLiveRings) {
  World w;
  w.sink.echo = true;
  auto& fe = w.add_guest(DomId{5}, "work", "10.137.0.5");
  w.settle();
  for (int i = 0; i < 300; ++i) {  // move the ring indices well past one lap
    ASSERT_TRUE(fe.send(make_frame(60, uint8_t(i))));
    if (i % 50 == 0) w.settle();
  }
  w.settle();
  ASSERT_EQ(fe.rx_frames, 300u);
  w.restart_backend();
  // Frames the guest queues while no backend runs are served after the restart.
  ASSERT_TRUE(fe.send(make_frame(61, 1)));
  ASSERT_TRUE(fe.send(make_frame(62, 2)));
  w.settle();
  EXPECT_EQ(w.backend_key(DomId{5}, "state"), "4");
  EXPECT_TRUE(fe.connected());
  EXPECT_EQ(w.sink.up.size(), 2u);
  EXPECT_EQ(w.sink.frames.size(), 302u);
  EXPECT_EQ(w.sink.frames.back().data, make_frame(62, 2));
  EXPECT_EQ(fe.rx_frames, 302u);
  EXPECT_EQ(fe.tx_in_flight(), 0u);
  EXPECT_EQ(w.hv.mapped_grants_of(DomId{5}), 2u);
}

TEST(Netback, CreditLimitsTransmitRate) {
  World w;
  // 1000 bytes per 100 ms.
  auto& fe = w.add_guest(DomId{5}, "work", "10.137.0.5", {}, 0, "1000,100000");
  w.settle();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(fe.send(make_frame(600)));
  w.settle();
  EXPECT_EQ(w.sink.frames.size(), 1u);
  ASSERT_TRUE(w.nb.next_deadline().has_value());
  w.advance(100ms);
  w.settle();
  EXPECT_EQ(w.sink.frames.size(), 2u);
  for (int i = 0; i < 3; ++i) {
    w.advance(100ms);
    w.settle();
  }
  EXPECT_EQ(w.sink.frames.size(), 5u);
  EXPECT_EQ(fe.tx_ok, 5u);
}

TEST(Netback, BadRateKeyRefusesTheVif) {
  World w;
  w.add_guest(DomId{5}, "work", "10.137.0.5", {}, 0, "1000,0");
  w.settle();
  EXPECT_EQ(w.backend_key(DomId{5}, "state"), "5");
  EXPECT_EQ(w.status(DomId{5})->refused, "bad rate");
}

TEST(Netback, GuestThatStopsPostingBuffersIsBoundedAndStalled) {
  netback::NetbackConfig cfg;
  cfg.limits.rx_queue_bytes = 16 * 1024;
  World w(cfg);
  xen::sim::SimNetfrontOptions opt;
  opt.rx_buffers = 2;
  opt.auto_repost = false;
  auto& fe = w.add_guest(DomId{5}, "work", "10.137.0.5", opt);
  w.settle();
  const auto id = w.vif_id(DomId{5});
  int accepted = 0;
  for (int i = 0; i < 100; ++i) accepted += w.nb.to_guest(id, make_frame(1000));
  w.settle();
  EXPECT_EQ(fe.rx_frames, 2u);
  EXPECT_LT(accepted, 20);  // bounded by the 16 KiB queue
  auto st = *w.status(DomId{5});
  EXPECT_GT(st.counters.drops[size_t(netback::DropReason::rx_queue_full)], 80u);
  w.advance(11s);
  w.settle();
  st = *w.status(DomId{5});
  EXPECT_TRUE(st.rx_stalled);
  EXPECT_GT(st.counters.drops[size_t(netback::DropReason::rx_stalled)], 0u);
  EXPECT_FALSE(w.nb.to_guest(id, make_frame(100)));  // dropped at once while stalled
}

}  // namespace
}  // namespace xfw::testing
