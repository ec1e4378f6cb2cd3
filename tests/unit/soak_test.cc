// Nothing leaks over time (issue 15, the simulator's part): 1 000 AppVMs attached and detached
// one after another, each sending and receiving, while another AppVM stays attached throughout.
// After the first 100 cycles (the allocator's warm-up) and at the end: the backend's grant
// mappings and event channels, XenStore, netback's devices, the pipeline's connections, the
// process's open files and its heap in use are what they were. The
// teardown alternates between the three ways a vif goes: the domain destroyed, the guest
// closing its netfront, the toolstack removing the vif. SOAK_TRACE=1 prints every 100 cycles.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>

#include "firewall/pipeline.h"
#include "tests/support/packets.h"
#include "tests/support/process.h"
#include "tests/support/world.h"

namespace xfw::testing {
namespace {

struct Null : firewall::Egress {
  uint64_t frames = 0;
  void to_uplink(std::span<const std::byte>, uint16_t) override { ++frames; }
  void to_vif(netback::VifId, std::span<const std::byte>) override { ++frames; }
};

struct Snapshot {
  std::size_t mappings, ports, nodes, devices, flows;
  int fds;
  long heap, rss;
  std::string str() const {
    char b[240];
    std::snprintf(b, sizeof b, "grant mappings %zu, event channels %zu, XenStore nodes %zu, devices %zu, flows %zu, fds %d, heap %ld B, RSS %ld KiB",
                  mappings, ports, nodes, devices, flows, fds, heap, rss);
    return b;
  }
};

TEST(Soak, AThousandAttachDetachCyclesLeaveNothingBehind) {
  World w;
  w.sink.keep = false;
  Null out;
  firewall::PipelineConfig cfg;
  cfg.uplink_addr = packet::Ipv4Addr{{192, 168, 100, 2}};
  cfg.uplink_gateway = packet::Ipv4Addr{{192, 168, 100, 1}};
  cfg.uplink_mac = packet::MacAddr{{2, 0, 0, 0, 0, 2}};
  cfg.default_rules = {std::get<firewall::Rule>(firewall::parse_rule("action=accept"))};
  firewall::Pipeline pl(cfg, out, 1);
  (void)pl.from_uplink(hex({2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 6, 0, 1, 8, 0, 6, 4, 0, 2, 2, 0, 0, 0, 0, 1,
                            192, 168, 100, 1, 0, 0, 0, 0, 0, 0, 192, 168, 100, 2}), 0);
  std::size_t ups = 0, downs = 0;
  auto follow = [&] {  // the pipeline follows netback's vifs, as the daemon's Dataplane does
    for (; ups < w.sink.up.size(); ++ups) pl.vif_up(w.sink.up[ups]);
    for (; downs < w.sink.down.size(); ++downs) pl.vif_down(w.sink.down[downs]);
  };
  auto forget_records = [&] {  // the test's own records grow (follow() read them all): drop them
    w.log.clear();
    w.log.shrink_to_fit();
    w.sink.up.clear();
    w.sink.down.clear();
    ups = downs = 0;
  };
  auto& steady = w.add_guest(DomId{5}, "vm", "10.137.0.5");
  w.settle();
  follow();
  const Bytes steady_frame = udp(Ip4{"10.137.0.5", "192.0.2.1"}, 40000, 9);
  auto snapshot = [&] {
    return Snapshot{w.be_gnt.live_mappings(), w.be_evt.bound_ports(), w.hv.xenstore_nodes(), w.nb.devices().size(),
                    pl.conntrack().size(), open_fds(), heap_bytes(), rss_kib()};
  };
  Snapshot base{};
  const uint64_t before = out.frames;
  for (int i = 0; i < 1000; ++i) {
    const DomId d{uint16_t(100 + i)};
    const std::string ip = "10.137.1." + std::to_string(i % 250 + 2);
    auto& fe = w.add_guest(d, "vm", ip);
    w.settle();
    follow();
    ASSERT_TRUE(fe.connected()) << "cycle " << i;
    // Traffic both ways: a frame from the guest into the pipeline (a new flow), one to it.
    const auto id = w.sink.up.back().id;
    ASSERT_TRUE(fe.send(udp(Ip4{ip, "192.0.2.1"}, uint16_t(20000 + i % 1000), 9)));
    w.settle();
    const auto why = pl.from_client(id, udp(Ip4{ip, "192.0.2.1"}, uint16_t(20000 + i % 1000), 9), {}, 1000 + i);
    EXPECT_FALSE(why) << firewall::name(*why);
    EXPECT_TRUE(w.nb.to_guest(id, make_frame(200)));
    ASSERT_TRUE(steady.send(steady_frame));
    switch (i % 3) {
      case 0: w.ts.destroy_domain(d, w.backend); break;
      case 1: fe.close(); break;
      case 2: w.ts.remove_vif(w.backend, d, 0); break;
    }
    w.settle();
    if (i % 3 != 0) {  // the domain goes too, once its vif is closed
      w.ts.forget_vif(w.backend, d, 0);
      w.ts.destroy_domain(d, w.backend);
    }
    w.remove_front(d);
    w.settle();
    follow();
    forget_records();
    if (i == 99) base = snapshot();
    if (getenv("SOAK_TRACE") && i % 100 == 99) std::printf("%4d: %s\n", i + 1, snapshot().str().c_str());
  }
  const Snapshot end = snapshot();
  std::printf("after 100 cycles: %s\nafter 1000:       %s\n", base.str().c_str(), end.str().c_str());
  EXPECT_EQ(end.mappings, base.mappings);
  EXPECT_EQ(end.mappings, 2u);  // the steady vif's two rings
  EXPECT_EQ(end.ports, base.ports);
  EXPECT_EQ(end.ports, 1u);
  EXPECT_EQ(end.nodes, base.nodes);
  EXPECT_EQ(end.devices, 1u);
  EXPECT_EQ(end.flows, 0u);  // each cycle's flow went with its vif
  EXPECT_EQ(end.fds, base.fds);
  // The heap in use, exactly (glibc's count; under ASan the sanitizer's): a leak of 16 bytes a
  // cycle would show.
  EXPECT_LE(end.heap - base.heap, 4096) << "the heap grew by " << end.heap - base.heap << " bytes over 900 cycles";
#ifndef XFW_ASAN  // daemon/heap.h, through tests/support/process.h
  // RSS only roughly (malloc keeps what it once had: one step of about 300 KiB early on, flat
  // after). AddressSanitizer keeps freed memory in quarantine: RSS says nothing there.
  EXPECT_LE(end.rss - base.rss, 1024) << "RSS grew by " << end.rss - base.rss << " KiB over 900 cycles";
#endif
  EXPECT_GT(out.frames, before + 900);
  EXPECT_TRUE(steady.connected());
}

}  // namespace
}  // namespace xfw::testing
