// The hostile-frontend suite: one or more tests for every item of NETBACK-HARDENING.md.
// A hostile guest (domid 5) writes raw ring requests, indices, extra-info slots and XenStore
// values; a well-behaved guest (domid 6) runs beside it. Every test checks that the attack is
// contained — the packet dropped or the hostile vif disconnected, with the counted reason —
// and that the other vif still passes traffic both ways.
#include <gtest/gtest.h>

#include <atomic>

#include "tests/support/world.h"

namespace xfw::testing {
namespace {

using namespace std::chrono_literals;
using netback::DropReason;

class Hostile : public ::testing::Test {
 protected:
  explicit Hostile(netback::NetbackConfig cfg = {}) : w_(std::move(cfg)) {}
  void SetUp() override {
    evil_ = &w_.add_guest(DomId{5}, "untrusted", "10.137.0.5");
    good_ = &w_.add_guest(DomId{6}, "work", "10.137.0.6");
    w_.settle();
    ASSERT_TRUE(evil_->connected());
    ASSERT_TRUE(good_->connected());
    prod_ = evil_->raw_tx()->req_prod;
  }

  // Writes a raw tx request at the next index (not yet published).
  void put(uint16_t id, uint32_t gref, uint16_t offset, uint16_t size, uint16_t flags) {
    netif_tx_request_t r{};
    r.gref = gref;
    r.offset = offset;
    r.size = size;
    r.flags = flags;
    r.id = id;
    evil_->raw_tx()->ring[prod_ % 256].req = r;
    ++prod_;
  }
  void put_extra(uint8_t type, uint8_t flags, uint16_t gso_size = 0, uint8_t gso_type = 0) {
    netif_extra_info_t e{};
    e.type = type;
    e.flags = flags;
    e.u.gso.size = gso_size;
    e.u.gso.type = gso_type;
    std::memcpy(&evil_->raw_tx()->ring[prod_ % 256], &e, sizeof e);
    ++prod_;
  }
  uint32_t data_ref(uint32_t page = 0, std::size_t fill = 4096) {
    auto& p = evil_->raw_tx_page(page);
    for (std::size_t i = 0; i < fill; ++i) p.bytes[i] = std::byte(i);
    return evil_->raw_tx_page_ref(page).value();
  }
  // A packet of `n` slots of `each` bytes (first slot size = the total), all published.
  void put_chain(int n, uint16_t each) {
    put(1, data_ref(0), 0, uint16_t(n * each), NETTXF_more_data);
    for (int i = 1; i < n; ++i) put(uint16_t(1 + i), data_ref(1), 0, each, i < n - 1 ? NETTXF_more_data : 0);
    publish();
  }
  void publish(uint32_t prod) {
    __atomic_store_n(&evil_->raw_tx()->req_prod, prod, __ATOMIC_RELEASE);
    evil_->raw_notify();
  }
  void publish() { publish(prod_); }

  uint64_t drops(DropReason r, DomId d = DomId{5}) {
    return w_.status(d)->counters.drops[std::size_t(r)];
  }
  std::string be_state(DomId d = DomId{5}) { return w_.backend_key(d, "state").value_or("?"); }

  // The well-behaved guest still works both ways.
  void expect_good_vif_works() {
    const auto before = w_.sink.frames.size();
    ASSERT_TRUE(good_->send(make_frame(90, 42)));
    w_.settle();
    ASSERT_EQ(w_.sink.frames.size(), before + 1);
    EXPECT_EQ(w_.sink.frames.back().data, make_frame(90, 42));
    ASSERT_TRUE(w_.nb.to_guest(w_.vif_id(DomId{6}), make_frame(91, 43)));
    w_.settle();
    EXPECT_EQ(good_->receive(), make_frame(91, 43));
  }
  // The hostile vif is disconnected: backend Closing/Closed, rings unmapped, port closed.
  void expect_disconnected(DropReason r) {
    EXPECT_EQ(drops(r), 1u);
    EXPECT_EQ(w_.status(DomId{5})->disconnect_reason, r);
    EXPECT_FALSE(w_.status(DomId{5})->connected);
    EXPECT_TRUE(be_state() == "5" || be_state() == "6") << be_state();
    EXPECT_EQ(w_.hv.mapped_grants_of(DomId{5}), 0u);
    EXPECT_EQ(w_.be_evt.bound_ports(), 1u);
  }
  // Refused: backend Closing, then Closed once the frontend acknowledges; never Connected.
  void expect_refused(const std::string& why) {
    EXPECT_TRUE(be_state() == "5" || be_state() == "6") << be_state();
    EXPECT_EQ(w_.status(DomId{5})->refused, why);
    EXPECT_FALSE(w_.status(DomId{5})->connected);
    EXPECT_EQ(w_.hv.mapped_grants_of(DomId{5}), 0u);
  }

  World w_;
  xen::sim::SimNetfront* evil_ = nullptr;
  xen::sim::SimNetfront* good_ = nullptr;
  uint32_t prod_ = 0;
};

// --- Items 1-2: ring indices ---

TEST_F(Hostile, TxReqProdBeyondRingSizeIsFatal) {
  publish(prod_ + 257);
  w_.settle();
  expect_disconnected(DropReason::fatal_tx_req_prod);
  expect_good_vif_works();
}

TEST_F(Hostile, TxReqProdGoingBackwardsIsFatal) {
  publish(prod_ - 1);  // unsigned: looks like 2^32-1 new requests
  w_.settle();
  expect_disconnected(DropReason::fatal_tx_req_prod);
  expect_good_vif_works();
}

TEST_F(Hostile, RxReqProdBeyondRingSizeIsFatal) {
  auto* rx = evil_->raw_rx();
  __atomic_store_n(&rx->req_prod, rx->req_prod + 1000, __ATOMIC_RELEASE);
  ASSERT_TRUE(w_.nb.to_guest(w_.vif_id(DomId{5}), make_frame(60)));
  w_.settle();
  expect_disconnected(DropReason::fatal_rx_req_prod);
  expect_good_vif_works();
}

TEST_F(Hostile, ExactlyOneRingOfRequestsIsFine) {
  for (int i = 0; i < 256; ++i) put(uint16_t(i), data_ref(), 0, 60, 0);
  publish();
  w_.settle();
  EXPECT_EQ(w_.sink.frames.size(), 256u);
  EXPECT_TRUE(w_.status(DomId{5})->connected);
}

TEST_F(Hostile, RingIndicesOutOfRangeAtConnectAreRefused) {
  // A guest that reconnects with a ring already claiming 1000 requests.
  evil_->reinit();
  w_.settle();  // reconnected by the netfront with fresh rings
  ASSERT_TRUE(evil_->connected());
  evil_->close();
  w_.settle();
  // Reconnect by hand: pre-set req_prod before the backend maps the ring.
  evil_->reinit();
  w_.nb.on_xenstore(w_.now);  // backend -> InitWait
  evil_->step();              // frontend writes keys and Connected
  evil_->raw_tx()->req_prod = 1000;
  w_.settle();
  expect_refused("ring indices out of range at connect");
  expect_good_vif_works();
}

// --- Item 3: requests are copied once (double fetch) ---

TEST_F(Hostile, RequestRewrittenAfterPublishDoesNotChangeWhatWasValidated) {
  // The data is copied out by grant copy into private memory before delivery; a guest
  // that rewrites its page after the backend has consumed the request changes nothing.
  put(1, data_ref(), 0, 100, 0);
  publish();
  w_.nb.on_events(w_.now);
  w_.nb.poll(w_.now);
  ASSERT_EQ(w_.sink.frames.size(), 1u);
  const auto seen = w_.sink.frames[0].data;
  std::memset(evil_->raw_tx_page(0).bytes, 0xEE, 4096);
  evil_->raw_tx()->ring[(prod_ - 1) % 256].req.size = 4000;
  EXPECT_EQ(w_.sink.frames[0].data, seen);
  EXPECT_EQ(seen.size(), 100u);
}

// --- Items 5, 7: sizes and offsets ---

TEST_F(Hostile, FirstSlotCrossingThePageIsDropped) {
  put(1, data_ref(), 4000, 200, 0);
  publish();
  w_.settle();
  EXPECT_EQ(drops(DropReason::tx_slot_crosses_page), 1u);
  EXPECT_EQ(evil_->tx_error, 1u);
  EXPECT_TRUE(w_.sink.frames.empty());
  expect_good_vif_works();
}

TEST_F(Hostile, OffsetNearU16MaxDoesNotWrap) {
  put(1, data_ref(), 0xFFFF, 60, 0);
  publish();
  w_.settle();
  EXPECT_EQ(drops(DropReason::tx_slot_crosses_page), 1u);
  expect_good_vif_works();
}

TEST_F(Hostile, FragmentCrossingThePageIsDropped) {
  put(1, data_ref(0), 0, 1000, NETTXF_more_data);
  put(2, data_ref(1), 3500, 900, 0);
  publish();
  w_.settle();
  EXPECT_EQ(drops(DropReason::tx_slot_crosses_page), 1u);
  EXPECT_EQ(evil_->tx_error, 2u);  // every slot answered
}

TEST_F(Hostile, RuntFrameIsDropped) {
  put(1, data_ref(), 0, 13, 0);
  publish();
  w_.settle();
  EXPECT_EQ(drops(DropReason::tx_runt), 1u);
}

TEST_F(Hostile, ZeroLengthFragmentIsDropped) {
  put(1, data_ref(0), 0, 100, NETTXF_more_data);
  put(2, data_ref(1), 0, 0, 0);
  publish();
  w_.settle();
  EXPECT_EQ(drops(DropReason::tx_zero_fragment), 1u);
}

TEST_F(Hostile, EmptyFirstSlotIsDropped) {
  put(1, data_ref(0), 0, 100, NETTXF_more_data);  // all 100 bytes claimed by the fragment
  put(2, data_ref(1), 0, 100, 0);
  publish();
  w_.settle();
  EXPECT_EQ(drops(DropReason::tx_zero_fragment), 1u);
}

TEST_F(Hostile, FragmentsLargerThanThePacketAreDropped) {
  put(1, data_ref(0), 0, 100, NETTXF_more_data);
  put(2, data_ref(1), 0, 60, NETTXF_more_data);
  put(3, data_ref(2), 0, 60, 0);  // 120 > 100: would underflow the first slot's share
  publish();
  w_.settle();
  EXPECT_EQ(drops(DropReason::tx_fragment_overflow), 1u);
  EXPECT_EQ(evil_->tx_error, 3u);
}

TEST_F(Hostile, SixteenBitSizeWrapIsDropped) {
  // 18 fragments of 4096 bytes claim 73728 bytes, more than the 16-bit total can describe.
  put(1, data_ref(0), 0, 0xFFFF, NETTXF_more_data);
  for (int i = 0; i < 17; ++i) put(uint16_t(2 + i), data_ref(1), 0, 4096, i < 16 ? NETTXF_more_data : 0);
  publish();
  w_.settle();
  EXPECT_EQ(drops(DropReason::tx_fragment_overflow), 1u);
  expect_good_vif_works();
}

// --- Item 6: slot counts ---

TEST_F(Hostile, EighteenSlotsAreAccepted) {
  put_chain(18, 100);
  w_.settle();
  ASSERT_EQ(w_.sink.frames.size(), 1u);
  EXPECT_EQ(w_.sink.frames[0].data.size(), 1800u);
}

TEST_F(Hostile, NineteenSlotsDropThePacket) {
  put_chain(19, 100);
  w_.settle();
  EXPECT_EQ(drops(DropReason::tx_too_many_slots), 1u);
  EXPECT_EQ(evil_->tx_error, 19u);
  EXPECT_TRUE(w_.status(DomId{5})->connected);
}

TEST_F(Hostile, TwentySlotsDisconnect) {
  put_chain(20, 100);
  w_.settle();
  expect_disconnected(DropReason::fatal_tx_abusive_slots);
  expect_good_vif_works();
}

TEST_F(Hostile, MoreDataOnTheLastQueuedSlotIsFatal) {
  put(1, data_ref(0), 0, 200, NETTXF_more_data);
  put(2, data_ref(1), 0, 100, NETTXF_more_data);  // promises a slot that is not queued
  publish();
  w_.settle();
  expect_disconnected(DropReason::fatal_tx_slots_beyond_prod);
  expect_good_vif_works();
}

TEST_F(Hostile, MoreDataChainAroundTheWholeRingIsFatal) {
  for (int i = 0; i < 256; ++i) put(uint16_t(i), data_ref(), 0, 100, NETTXF_more_data);
  publish();
  w_.settle();
  expect_disconnected(DropReason::fatal_tx_abusive_slots);
}

// --- Item 8, 9: extra-info slots ---

TEST_F(Hostile, ExtraInfoWithTypeZeroIsFatal) {
  put(1, data_ref(), 0, 100, NETTXF_extra_info);
  put_extra(0, 0);
  publish();
  w_.settle();
  expect_disconnected(DropReason::fatal_tx_bad_extra);
  expect_good_vif_works();
}

TEST_F(Hostile, ExtraInfoWithTypeBeyondMaxIsFatal) {
  put(1, data_ref(), 0, 100, NETTXF_extra_info);
  put_extra(XEN_NETIF_EXTRA_TYPE_MAX, 0);
  publish();
  w_.settle();
  expect_disconnected(DropReason::fatal_tx_bad_extra);
}

TEST_F(Hostile, ExtraInfoBeyondQueuedSlotsIsFatal) {
  put(1, data_ref(), 0, 100, NETTXF_extra_info);
  publish();
  w_.settle();
  expect_disconnected(DropReason::fatal_tx_slots_beyond_prod);
}

TEST_F(Hostile, EndlessExtraInfoChainIsFatal) {
  put(1, data_ref(), 0, 100, NETTXF_extra_info);
  for (int i = 0; i < 10; ++i) put_extra(XEN_NETIF_EXTRA_TYPE_MCAST_ADD, XEN_NETIF_EXTRA_FLAG_MORE);
  put_extra(XEN_NETIF_EXTRA_TYPE_MCAST_ADD, 0);
  publish();
  w_.settle();
  expect_disconnected(DropReason::fatal_tx_bad_extra);
}

TEST_F(Hostile, GsoExtraIsPassedOnAsAClaim) {
  put(1, data_ref(), 0, 1000, NETTXF_extra_info | NETTXF_csum_blank);
  put_extra(XEN_NETIF_EXTRA_TYPE_GSO, 0, 1448, XEN_NETIF_GSO_TYPE_TCPV4);
  publish();
  w_.settle();
  ASSERT_EQ(w_.sink.frames.size(), 1u);
  EXPECT_EQ(w_.sink.frames[0].data.size(), 1000u);
  EXPECT_EQ(w_.sink.frames[0].flags.gso.size, 1448);
  EXPECT_EQ(w_.sink.frames[0].flags.gso.type, XEN_NETIF_GSO_TYPE_TCPV4);
  EXPECT_TRUE(w_.sink.frames[0].flags.csum_blank);
  EXPECT_EQ(evil_->tx_null, 1u);  // the extra slot answered NETIF_RSP_NULL
  EXPECT_EQ(evil_->tx_ok, 1u);
  expect_good_vif_works();
}

netback::NetbackConfig without_gso() {
  netback::NetbackConfig c;
  c.limits.gso = false;
  return c;
}
class HostileNoGso : public Hostile {
 protected:
  HostileNoGso() : Hostile(without_gso()) {}
};

TEST_F(HostileNoGso, GsoWithoutNegotiationDropsThePacket) {
  EXPECT_EQ(w_.backend_key(DomId{5}, "feature-gso-tcpv4"), "0");
  put(1, data_ref(), 0, 1000, NETTXF_extra_info);
  put_extra(XEN_NETIF_EXTRA_TYPE_GSO, 0, 1448, XEN_NETIF_GSO_TYPE_TCPV4);
  publish();
  w_.settle();
  EXPECT_EQ(drops(DropReason::tx_gso_not_negotiated), 1u);
  EXPECT_EQ(evil_->tx_null, 1u);  // the extra slot answered NETIF_RSP_NULL
  EXPECT_EQ(evil_->tx_error, 1u);
  expect_good_vif_works();
}

TEST_F(Hostile, GsoWithTinySizeOrBadTypeIsDropped) {
  put(1, data_ref(), 0, 1000, NETTXF_extra_info);
  put_extra(XEN_NETIF_EXTRA_TYPE_GSO, 0, 0, XEN_NETIF_GSO_TYPE_TCPV4);
  put(2, data_ref(), 0, 1000, NETTXF_extra_info);
  put_extra(XEN_NETIF_EXTRA_TYPE_GSO, 0, 1448, 7);
  put(3, data_ref(), 0, 1000, NETTXF_extra_info);
  put_extra(XEN_NETIF_EXTRA_TYPE_GSO, 0, 47, XEN_NETIF_GSO_TYPE_TCPV4);  // 1000 bytes -> 21 segments
  publish();
  w_.settle();
  EXPECT_EQ(drops(DropReason::tx_bad_gso), 3u);
  EXPECT_TRUE(w_.status(DomId{5})->connected);
}

TEST_F(Hostile, MulticastExtrasAreAnsweredAndIgnored) {
  put(1, data_ref(), 0, 100, NETTXF_extra_info);
  put_extra(XEN_NETIF_EXTRA_TYPE_MCAST_ADD, XEN_NETIF_EXTRA_FLAG_MORE);
  put_extra(XEN_NETIF_EXTRA_TYPE_MCAST_DEL, 0);
  publish();
  w_.settle();
  ASSERT_EQ(w_.sink.frames.size(), 1u);
  EXPECT_EQ(evil_->tx_null, 2u);
  EXPECT_EQ(evil_->tx_ok, 1u);
}

// --- Item 10: grant copy status ---

TEST_F(Hostile, BadGrantRefFailsOnlyThatPacket) {
  put(1, 999999, 0, 100, 0);
  put(2, data_ref(), 0, 100, 0);
  publish();
  w_.settle();
  EXPECT_EQ(drops(DropReason::tx_grant_copy_failed), 1u);
  EXPECT_EQ(w_.sink.frames.size(), 1u);
  EXPECT_EQ(evil_->tx_error, 1u);
  EXPECT_EQ(evil_->tx_ok, 1u);
}

TEST_F(Hostile, GrantOfAnotherDomainCannotBeUsed) {
  // Guest 5 names a grant that guest 6 gave to the backend: the copy is from domain 5's
  // table, where that ref does not exist.
  put(1, good_->raw_tx_page_ref(0).value() + 0, 0, 100, 0);
  publish();
  w_.settle();
  EXPECT_EQ(drops(DropReason::tx_grant_copy_failed), 1u);
}

TEST_F(Hostile, BadRxBufferGrantIsCountedAndAnsweredWithError) {
  auto* rx = evil_->raw_rx();
  for (int i = 0; i < 256; ++i) rx->ring[i].req.gref = 777777;  // every posted buffer bogus
  ASSERT_TRUE(w_.nb.to_guest(w_.vif_id(DomId{5}), make_frame(60)));
  w_.settle();
  EXPECT_EQ(drops(DropReason::rx_grant_copy_failed), 1u);
  EXPECT_EQ(evil_->rx_errors, 1u);
  expect_good_vif_works();
}

// --- Item 11: responses echo ids, backend never indexes by them ---

TEST_F(Hostile, ArbitraryRequestIdsAreEchoedNotUsed) {
  put(0xFFFF, data_ref(), 0, 100, 0);
  put(0xFFFF, data_ref(), 0, 100, 0);  // duplicate id
  publish();
  w_.settle();
  EXPECT_EQ(w_.sink.frames.size(), 2u);
  const auto* tx = evil_->raw_tx();
  EXPECT_EQ(tx->ring[(prod_ - 1) % 256].rsp.id, 0xFFFF);
  EXPECT_EQ(tx->rsp_prod, prod_);
}

TEST_F(Hostile, RxRequestIdsAreEchoedInTheirOwnSlot) {
  auto* rx = evil_->raw_rx();
  rx->ring[0].req.id = 0xBEEF;  // posted buffer 0 (gref unchanged)
  ASSERT_TRUE(w_.nb.to_guest(w_.vif_id(DomId{5}), make_frame(60)));
  w_.nb.poll(w_.now);
  EXPECT_EQ(rx->ring[0].rsp.id, 0xBEEF);
  EXPECT_EQ(rx->ring[0].rsp.status, 60);
}

// --- Items 13-15: fairness and liveness ---

TEST_F(Hostile, FloodingGuestDoesNotStarveTheOther) {
  netback::NetbackConfig cfg;
  cfg.limits.tx_budget = 16;
  World w(cfg);
  auto& evil = w.add_guest(DomId{5}, "untrusted", "10.137.0.5");
  auto& good = w.add_guest(DomId{6}, "work", "10.137.0.6");
  w.settle();
  w.sink.keep = false;
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(evil.send(make_frame(60)));
  ASSERT_TRUE(good.send(make_frame(60)));
  w.nb.on_events(w.now);
  w.nb.poll(w.now);  // one pass: each vif gets at most its budget
  EXPECT_EQ(w.status(DomId{6})->counters.from_guest_packets, 1u);
  EXPECT_EQ(w.status(DomId{5})->counters.from_guest_packets, 16u);
  w.settle();
  EXPECT_EQ(w.status(DomId{5})->counters.from_guest_packets, 200u);
}

TEST_F(Hostile, EventStormIsBackedOff) {
  for (int i = 0; i < 1000; ++i) {
    evil_->raw_notify();
    w_.nb.on_events(w_.now);
    w_.nb.poll(w_.now);
  }
  const auto st = *w_.status(DomId{5});
  EXPECT_GT(st.counters.spurious_events, 0u);
  // Masked for a growing back-off: most kicks never reach the backend.
  EXPECT_LT(st.counters.events, 50u);
  ASSERT_TRUE(w_.nb.next_deadline().has_value());
  expect_good_vif_works();
  // Real work sent during the back-off waits for it (at most 256 ms), then resets it.
  ASSERT_TRUE(evil_->send(make_frame(60)));
  w_.settle();
  EXPECT_EQ(w_.status(DomId{5})->counters.from_guest_packets, 0u);
  w_.advance(300ms);
  w_.settle();
  EXPECT_EQ(w_.status(DomId{5})->counters.from_guest_packets, 1u);
  ASSERT_TRUE(evil_->send(make_frame(60)));
  w_.settle();  // back-off is over: served at once
  EXPECT_EQ(w_.status(DomId{5})->counters.from_guest_packets, 2u);
}

TEST_F(Hostile, GuestThatNeverPostsRxBuffers) {
  xen::sim::SimNetfrontOptions opt;
  opt.rx_buffers = 0;
  netback::NetbackConfig cfg;
  cfg.limits.rx_queue_bytes = 64 * 1024;
  World w(cfg);
  w.add_guest(DomId{5}, "untrusted", "10.137.0.5", opt);
  auto& good = w.add_guest(DomId{6}, "work", "10.137.0.6");
  w.settle();
  const auto id = w.vif_id(DomId{5});
  for (int i = 0; i < 1000; ++i) w.nb.to_guest(id, make_frame(1500));
  w.settle();
  auto st = *w.status(DomId{5});
  EXPECT_GT(st.counters.drops[std::size_t(DropReason::rx_queue_full)], 950u);
  w.advance(10s);
  w.settle();
  st = *w.status(DomId{5});
  EXPECT_TRUE(st.rx_stalled);
  EXPECT_GT(st.counters.drops[std::size_t(DropReason::rx_stalled)], 0u);
  ASSERT_TRUE(w.nb.to_guest(w.vif_id(DomId{6}), make_frame(100)));
  w.settle();
  EXPECT_EQ(good.rx_frames, 1u);
}

// --- Item 16: teardown ---

TEST_F(Hostile, ClosingMidPacketTearsDownCleanly) {
  put(1, data_ref(0), 0, 200, NETTXF_more_data);  // half a packet, never published
  evil_->close();
  w_.settle();
  EXPECT_EQ(w_.hv.mapped_grants_of(DomId{5}), 0u);
  EXPECT_EQ(w_.be_evt.bound_ports(), 1u);
  EXPECT_EQ(w_.sink.down.size(), 1u);
  expect_good_vif_works();
}

TEST_F(Hostile, DomainDiesMidTrafficTearsDown) {
  for (int i = 0; i < 10; ++i) put(uint16_t(i), data_ref(), 0, 100, 0);
  publish();
  w_.ts.destroy_domain(DomId{5}, w_.backend);
  w_.remove_front(DomId{5});
  w_.settle();
  EXPECT_EQ(w_.be_gnt.live_mappings(), 2u);
  expect_good_vif_works();
}

TEST_F(Hostile, TeardownTwiceIsHarmless) {
  evil_->close();
  w_.settle();
  w_.ts.remove_vif(w_.backend, DomId{5}, 0);
  w_.settle();
  w_.ts.forget_vif(w_.backend, DomId{5}, 0);
  w_.settle();
  EXPECT_EQ(w_.nb.devices().size(), 1u);
  expect_good_vif_works();
}

}  // namespace
}  // namespace xfw::testing
