// Pipeline benchmarks (issue 3 targets), one core, in process:
//   Established/64     established-flow forward path: parse + anti-spoof + conntrack hit + NAT
//                      rewrite + egress, 64-byte UDP frames          target >= 5 Mpps
//   NewFlows           first packets of new flows: rules + conntrack insert + NAT  >= 500 k/s
//   Lookup/N           conntrack lookups with N flows in the table (flat from 1 k to 1 M)
//   Classify/10000     new-flow classification with 10 000 rules on a VM     <= 2 us
// The per-flow memory (<= 128 B at 1 M flows) is ConnTrack::kBytesPerFlow, printed as a counter.
#include <benchmark/benchmark.h>

#include <random>

#include "firewall/pipeline.h"
#include "nat/rewrite.h"
#include "tests/support/packets.h"

using namespace xfw;
using namespace xfw::testing;

namespace {

struct Sink : firewall::Egress {
  uint64_t n = 0;
  void to_uplink(std::span<const std::byte> f, uint16_t) override { n += f.size(); }
  void to_vif(netback::VifId, std::span<const std::byte> f) override { n += f.size(); }
};

const packet::MacAddr kUplinkMac{{2, 0, 0, 0, 0, 2}}, kRouterMac{{2, 0, 0, 0, 0, 1}};
const netback::VifId kVif{0, 1};

std::unique_ptr<firewall::Pipeline> make(Sink& sink, uint32_t max_flows) {
  firewall::PipelineConfig c;
  c.uplink_addr = packet::Ipv4Addr{{192, 168, 100, 2}};
  c.uplink_gateway = packet::Ipv4Addr{{192, 168, 100, 1}};
  c.uplink_mac = kUplinkMac;
  c.limits.max_flows = max_flows;
  c.limits.max_flows_per_vif = max_flows;
  auto pl = std::make_unique<firewall::Pipeline>(c, sink, 7);
  pl->vif_up({kVif, xen::DomId{5}, 0, "work", kClientMac, xen::IpList{{packet::Ipv4Addr{{10, 137, 0, 5}}}, {}}});
  pl->set_rules("work", {std::get<firewall::Rule>(firewall::parse_rule("action=accept"))});
  Bytes arp = hex({2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 6, 0, 1, 8, 0, 6, 4, 0, 2, 2, 0, 0, 0, 0, 1,
                   192, 168, 100, 1, 2, 0, 0, 0, 0, 2, 192, 168, 100, 2});
  (void)pl->from_uplink(arp, 0);
  return pl;
}

void Established(benchmark::State& state) {
  Sink sink;
  auto pl = make(sink, 1024);
  Bytes f = udp(Ip4{"10.137.0.5", "192.0.2.1"}, 40000, 9999, Bytes(64 - 42));
  Bytes back = udp(Ip4{"192.0.2.1", "192.168.100.2", 64, kRouterMac, kUplinkMac}, 9999, 40000, Bytes(64 - 42));
  const bool to_guest = state.range(0) == 1;
  (void)pl->from_client(kVif, f, {}, 0);
  for (auto _ : state) {
    const auto r = to_guest ? pl->from_uplink(back, 1) : pl->from_client(kVif, f, {}, 1);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(int64_t(state.iterations()));
  if (sink.n == 0) state.SkipWithError("nothing forwarded");
}
BENCHMARK(Established)->Arg(0)->Arg(1)->ArgName("to_guest");

void NewFlows(benchmark::State& state) {
  Sink sink;
  auto pl = make(sink, 1 << 21);
  Bytes f = udp(Ip4{"10.137.0.5", "192.0.2.1"}, 40000, 9999, Bytes(64 - 42));
  uint32_t i = 0;
  for (auto _ : state) {
    // A new destination and port each time: rules, a conntrack insert and a NAT port choice.
    f[30 + 2] = std::byte(i >> 8);
    f[30 + 3] = std::byte(i);
    packet::wr16(f.data() + 24, 0);
    packet::wr16(f.data() + 24, packet::checksum(std::span(f).subspan(14, 20)));
    packet::wr16(f.data() + 34, uint16_t(1024 + (i >> 16)));
    const auto r = pl->from_client(kVif, f, {}, 1);
    benchmark::DoNotOptimize(r);
    if (++i == (1u << 21) - 1) state.SkipWithError("table full");
  }
  state.SetItemsProcessed(int64_t(state.iterations()));
  state.counters["flows"] = double(pl->conntrack().size());
}
BENCHMARK(NewFlows)->Iterations(1'000'000);

void Lookup(benchmark::State& state) {
  const auto n = uint32_t(state.range(0));
  nat::ConnTrack ct(nat::Limits{n, n, 1024, 65535}, {}, 3);
  ct.set_uplink(false, nat::addr_of(packet::Ipv4Addr{{192, 168, 100, 2}}));
  std::vector<nat::Key> keys;
  for (uint32_t i = 0; i < n; ++i) {
    nat::Key k{nat::addr_of(packet::Ipv4Addr::from_host(0x0A890000 + (i & 0xFF))),
               nat::addr_of(packet::Ipv4Addr::from_host(0xC0000000 + (i >> 8))),
               uint16_t(1024 + i % 60000), 443, 6, false};
    (void)ct.create(k, k.dst, i & 0xFF, 1, 0, 0);
    keys.push_back(k);
  }
  // Queries: random flows of the table, laid out in order so that reading the query itself
  // costs no cache miss (what is measured is the table's own memory traffic).
  std::mt19937 rng(1);  // 32-bit results
  std::vector<nat::Key> queries(1 << 16);
  for (auto& q : queries) q = keys[uint32_t(rng()) % n];
  keys.clear();
  std::size_t j = 0, found = 0;
  for (auto _ : state) {
    found += ct.find_orig(queries[j++ & 0xFFFF], 1) != nat::ConnTrack::kNone;
  }
  if (found != std::size_t(state.iterations())) state.SkipWithError("a lookup missed");
  state.SetItemsProcessed(int64_t(state.iterations()));
  state.counters["bytes_per_flow"] = double(nat::ConnTrack::kBytesPerFlow);
}
BENCHMARK(Lookup)->Arg(1000)->Arg(100'000)->Arg(1'000'000);

void Classify(benchmark::State& state) {
  // 10 000 rules as people write them: hosts and networks with ports, then a catch-all drop.
  std::vector<firewall::Rule> rules;
  std::mt19937 rng(5);
  for (int i = 0; i < state.range(0) - 1; ++i) {
    firewall::Rule r;
    r.action = firewall::Action(i % 2);
    r.proto = firewall::Proto(i % 3);
    const uint8_t len = i % 4 == 0 ? 24 : 32;
    r.dst = firewall::Cidr4{packet::Ipv4Addr::from_host((0x0A000000u + uint32_t(rng()) % 0xFFFFFF) & (~0u << (32 - len))), len};
    if (r.proto != firewall::Proto::icmp) r.ports = firewall::PortRange{uint16_t(1 + i % 1000), uint16_t(1 + i % 1000 + 10)};
    rules.push_back(r);
  }
  rules.push_back(firewall::Rule{});
  const auto rs = firewall::RuleSet::build(rules, {}, {});
  std::vector<firewall::FlowQuery> qs;
  for (int i = 0; i < 4096; ++i)
    qs.push_back({false, uint8_t(i % 2 ? 6 : 17), packet::Ipv4Addr::from_host(0x0A000000u + uint32_t(rng()) % 0xFFFFFF), {},
                  uint16_t(uint32_t(rng()) % 1024), 0});
  std::size_t j = 0;
  for (auto _ : state) benchmark::DoNotOptimize(rs.classify(qs[j++ & 4095]));
  state.SetItemsProcessed(int64_t(state.iterations()));
}
BENCHMARK(Classify)->Arg(10)->Arg(10'000);

}  // namespace

BENCHMARK_MAIN();
