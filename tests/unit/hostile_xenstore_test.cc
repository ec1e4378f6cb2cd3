// Hostile XenStore input (NETBACK-HARDENING.md items 17-21): every frontend key is parsed
// strictly and anything wrong refuses the connection with a reason; toolstack keys are read
// from the backend directory only; a guest cannot create devices or flood the backend.
#include <gtest/gtest.h>

#include "tests/support/world.h"

namespace xfw::testing {
namespace {

struct BadKey {
  const char* key;
  const char* value;  // nullptr = remove the key
  const char* reason;
};

class HostileFrontendKey : public ::testing::TestWithParam<BadKey> {};

// Runs the handshake up to the point where the frontend has written its keys and Connected,
// then corrupts one key before the backend reads them.
TEST_P(HostileFrontendKey, RefusesToConnect) {
  const BadKey& bad = GetParam();
  World w;
  auto& good = w.add_guest(DomId{6}, "work", "10.137.0.6");
  w.settle();
  auto& fe = w.add_guest(DomId{5}, "untrusted", "10.137.0.5");
  w.nb.on_xenstore(w.now);  // backend: features, InitWait
  ASSERT_TRUE(fe.step());   // frontend: keys, Connected
  if (bad.value) {
    ASSERT_TRUE(fe.write_key(bad.key, bad.value));
  } else {
    ASSERT_TRUE(fe.xs().rm(xen::kNoTxn, fe.dir() + "/" + bad.key));
  }
  w.settle();
  const auto st = *w.status(DomId{5});
  EXPECT_EQ(st.refused, bad.reason);
  EXPECT_FALSE(st.connected);
  const auto state = w.backend_key(DomId{5}, "state");
  EXPECT_TRUE(state == "5" || state == "6") << *state;
  EXPECT_EQ(w.hv.mapped_grants_of(DomId{5}), 0u);
  EXPECT_EQ(w.be_evt.bound_ports(), 1u);
  // The other vif is untouched.
  ASSERT_TRUE(good.send(make_frame(60)));
  w.settle();
  EXPECT_EQ(w.sink.frames.size(), 1u);
}

constexpr const char* kRingRef = "bad or missing tx-ring-ref/rx-ring-ref";
INSTANTIATE_TEST_SUITE_P(
    Item17And19, HostileFrontendKey,
    ::testing::Values(
        BadKey{"tx-ring-ref", "12abc", kRingRef}, BadKey{"tx-ring-ref", " 12", kRingRef},
        BadKey{"tx-ring-ref", "+12", kRingRef}, BadKey{"tx-ring-ref", "-1", kRingRef},
        BadKey{"tx-ring-ref", "", kRingRef}, BadKey{"tx-ring-ref", "0x10", kRingRef},
        BadKey{"tx-ring-ref", "012", kRingRef}, BadKey{"rx-ring-ref", "4294967296", kRingRef},
        BadKey{"rx-ring-ref", "99999999999999999999999", kRingRef},
        BadKey{"rx-ring-ref", nullptr, kRingRef},
        BadKey{"tx-ring-ref", "5", "cannot map tx-ring-ref 5"},
        BadKey{"event-channel", "0", "bad event-channel"},
        BadKey{"event-channel", "131072", "bad event-channel"},
        BadKey{"event-channel", "1\n", "bad event-channel"},
        BadKey{"event-channel", "77", "cannot bind event channel 77"},
        BadKey{"event-channel", nullptr, "missing event-channel"},
        BadKey{"request-rx-copy", "0", "request-rx-copy must be 1"},
        BadKey{"request-rx-copy", "2", "request-rx-copy must be 1"},
        BadKey{"request-rx-copy", nullptr, "request-rx-copy must be 1"},
        BadKey{"feature-rx-notify", "0", "feature-rx-notify must be 1"},
        BadKey{"feature-sg", "yes", "bad feature-sg"},
        BadKey{"feature-gso-tcpv4", "2", "bad feature-gso-tcpv4"},
        BadKey{"feature-gso-tcpv6", "", "bad feature-gso-tcpv6"},
        BadKey{"multi-queue-num-queues", "4", "multi-queue-num-queues must be 1"},
        BadKey{"multi-queue-num-queues", "0", "multi-queue-num-queues must be 1"}));

TEST(HostileXenStore, SameGrantForBothRingsIsRefused) {
  World w;
  auto& fe = w.add_guest(DomId{5}, "untrusted", "10.137.0.5");
  w.nb.on_xenstore(w.now);
  ASSERT_TRUE(fe.step());
  ASSERT_TRUE(fe.write_key("rx-ring-ref", *fe.xs().read(xen::kNoTxn, fe.dir() + "/tx-ring-ref")));
  w.settle();
  EXPECT_EQ(w.status(DomId{5})->refused, "tx-ring-ref and rx-ring-ref name the same grant");
}

// Found by fuzz_xenstore: with its ring refs swapped, the guest's rx buffer posts look like tx
// requests to netback and netback's answers look like received frames to the guest, which
// re-posts them: both sides stay busy forever. Every pass is bounded, so the attack costs the
// guest's own budget only: the other vif keeps being served.
TEST(HostileXenStore, SwappedRingRefsKeepTheGuestBusyNotTheBackend) {
  World w;
  auto& good = w.add_guest(DomId{6}, "work", "10.137.0.6");
  w.settle();
  auto& fe = w.add_guest(DomId{5}, "untrusted", "10.137.0.5");
  w.nb.on_xenstore(w.now);
  ASSERT_TRUE(fe.step());
  const auto tx = *fe.xs().read(xen::kNoTxn, fe.dir() + "/tx-ring-ref");
  const auto rx = *fe.xs().read(xen::kNoTxn, fe.dir() + "/rx-ring-ref");
  ASSERT_TRUE(fe.write_key("tx-ring-ref", rx));
  ASSERT_TRUE(fe.write_key("rx-ring-ref", tx));
  w.try_settle(200);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(good.send(make_frame(60, uint8_t(i))));
  w.try_settle(20);
  EXPECT_EQ(w.sink.frames.size(), 10u);
  ASSERT_TRUE(w.nb.to_guest(w.vif_id(DomId{6}), make_frame(61)));
  w.try_settle(20);
  EXPECT_EQ(good.rx_frames, 1u);
}

TEST(HostileXenStore, SplitEventChannelsNotOfferedAreRefused) {
  World w;
  auto& fe = w.add_guest(DomId{5}, "untrusted", "10.137.0.5");
  w.nb.on_xenstore(w.now);
  ASSERT_TRUE(fe.step());
  ASSERT_TRUE(fe.xs().rm(xen::kNoTxn, fe.dir() + "/event-channel"));
  ASSERT_TRUE(fe.write_key("event-channel-tx", "3"));
  ASSERT_TRUE(fe.write_key("event-channel-rx", "4"));
  w.settle();
  EXPECT_EQ(w.status(DomId{5})->refused, "split event channels were not offered");
}

TEST(HostileXenStore, GarbageFrontendStateClosesTheBackend) {
  World w;
  auto& fe = w.add_guest(DomId{5}, "untrusted", "10.137.0.5");
  w.settle();
  ASSERT_TRUE(fe.write_key("state", "4x"));
  w.settle();
  EXPECT_EQ(w.backend_key(DomId{5}, "state"), "6");
  EXPECT_EQ(w.hv.mapped_grants_of(DomId{5}), 0u);
}

TEST(HostileXenStore, MacIpAndRateComeOnlyFromTheBackendDirectory) {
  World w;
  auto& fe = w.add_guest(DomId{5}, "untrusted", "10.137.0.5");
  ASSERT_TRUE(fe.write_key("mac", "02:00:00:00:00:01"));
  ASSERT_TRUE(fe.write_key("ip", "10.137.0.99"));
  ASSERT_TRUE(fe.write_key("rate", "1,1"));
  w.settle();
  ASSERT_EQ(w.sink.up.size(), 1u);
  EXPECT_EQ(w.sink.up[0].mac.str(), "00:16:3e:5e:6c:00");
  EXPECT_EQ(w.sink.up[0].ips.v4[0].str(), "10.137.0.5");
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(fe.send(make_frame(1500)));
  w.settle();
  EXPECT_EQ(w.sink.frames.size(), 20u);  // no rate limit from the frontend's key
}

TEST(HostileXenStore, GuestCannotWriteTheBackendDirectory) {
  World w;
  auto& fe = w.add_guest(DomId{5}, "untrusted", "10.137.0.5");
  w.settle();
  const std::string be = xen::sim::SimToolstack::backend_path(w.backend, DomId{5}, 0);
  EXPECT_FALSE(fe.xs().write(xen::kNoTxn, be + "/ip", "10.137.0.1"));
  EXPECT_FALSE(fe.xs().write(xen::kNoTxn, be + "/state", "6"));
  EXPECT_EQ(w.backend_key(DomId{5}, "ip"), "10.137.0.5");
}

struct BadToolstackKey {
  const char* key;
  const char* value;
  const char* reason;
};
class HostileToolstackKey : public ::testing::TestWithParam<BadToolstackKey> {};

TEST_P(HostileToolstackKey, RefusesToConnect) {
  const auto& bad = GetParam();
  World w;
  w.add_guest(DomId{5}, "untrusted", "10.137.0.5");
  ASSERT_TRUE(w.ts.xs().write(xen::kNoTxn,
                              xen::sim::SimToolstack::backend_path(w.backend, DomId{5}, 0) + "/" +
                                  bad.key,
                              bad.value));
  w.settle();
  EXPECT_EQ(w.status(DomId{5})->refused, bad.reason);
  EXPECT_EQ(w.backend_key(DomId{5}, "state"), "5");  // never InitWait: the guest stays waiting
  EXPECT_TRUE(w.sink.up.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Item18, HostileToolstackKey,
    ::testing::Values(BadToolstackKey{"mac", "zz:16:3e:5e:6c:00", "bad or missing mac"},
                      BadToolstackKey{"mac", "00:16:3e:5e:6c:00:11", "bad or missing mac"},
                      BadToolstackKey{"ip", "10.137.0.5 ", "bad ip list"},
                      BadToolstackKey{"ip", "10.137.0.256", "bad ip list"},
                      BadToolstackKey{"frontend-id", "6", "bad frontend-id"},
                      BadToolstackKey{"frontend-id", "32752", "bad frontend-id"},
                      BadToolstackKey{"frontend", "/local/domain/6/device/vif/0",
                                      "frontend is not /local/domain/5/device/vif/0"},
                      BadToolstackKey{"handle", "1", "handle does not match the device"},
                      BadToolstackKey{"rate", "100", "bad rate"}));

TEST(HostileXenStore, GuestCannotCreateDevicesFromItsOwnDirectory) {
  World w;
  auto& fe = w.add_guest(DomId{5}, "untrusted", "10.137.0.5");
  w.settle();
  for (int i = 1; i < 50; ++i) {
    const std::string d = "/local/domain/5/device/vif/" + std::to_string(i);
    ASSERT_TRUE(fe.xs().write(xen::kNoTxn, d + "/state", "4"));
    ASSERT_TRUE(fe.xs().write(xen::kNoTxn, d + "/tx-ring-ref", "8"));
  }
  w.settle();
  EXPECT_EQ(w.nb.devices().size(), 1u);
}

TEST(HostileXenStore, WatchFloodIsCoalesced) {
  World w;
  auto& fe = w.add_guest(DomId{5}, "untrusted", "10.137.0.5");
  w.settle();
  for (int i = 0; i < 20000; ++i) {
    ASSERT_TRUE(fe.xs().write(xen::kNoTxn, fe.dir() + "/state/x" + std::to_string(i % 50), "1"));
  }
  EXPECT_GT(w.be_xs.pending_watch_events(), 19000u);
  const int rounds = w.settle();
  EXPECT_LT(rounds, 5);  // drained and reconciled once, not 20000 times
  EXPECT_EQ(w.be_xs.pending_watch_events(), 0u);
  EXPECT_TRUE(w.status(DomId{5})->connected);
}

}  // namespace
}  // namespace xfw::testing
