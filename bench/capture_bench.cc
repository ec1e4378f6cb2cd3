// What `xfwctl capture` costs the data path, in instructions per frame (run under callgrind by
// bench/capture_cost.sh, which prints the table). Frames: established UDP from the uplink to the
// VM "work" (64 bytes), through the whole Dataplane: the taps at the uplink's receive, at the
// pipeline's delivery to the VM and at the VM's side all run.
//   capture_bench CASE N      forward N frames with capture CASE running:
//     none      no capture (what every frame pays when nobody captures)
//     other     a capture of another VM (each tap asks whether the frame is that VM's)
//     filtered  a capture of work whose filter ("tcp") refuses these frames (bpf_filter runs)
//     stalled   a capture of work whose reader is behind: every frame counted as lost
//     taking    a capture of work whose reader keeps up: every frame encoded and queued
#include <pcap/pcap.h>

#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

#include "daemon/dataplane.h"
#include "tests/support/packets.h"

using namespace xfw;
using namespace xfw::testing;

namespace {

struct Sink final : daemon::CaptureSink {
  std::size_t room_ = 0;
  uint64_t bytes = 0;
  [[nodiscard]] std::size_t room() const override { return room_; }
  bool send(std::string line) override { return bytes += line.size(), true; }
  void finish(std::string) override {}
};

nlohmann::json compile(const char* expr) {
  pcap_t* p = pcap_open_dead(DLT_EN10MB, 262144);
  bpf_program prog{};
  if (pcap_compile(p, &prog, expr, 1, PCAP_NETMASK_UNKNOWN) != 0) std::abort();
  nlohmann::json a = nlohmann::json::array();
  for (u_int i = 0; i < prog.bf_len; ++i) a.push_back({prog.bf_insns[i].code, prog.bf_insns[i].jt, prog.bf_insns[i].jf, prog.bf_insns[i].k});
  pcap_freecode(&prog);
  pcap_close(p);
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) return std::fprintf(stderr, "usage: capture_bench none|other|filtered|stalled|taking N\n"), 2;
  const std::string which = argv[1];
  const long n = std::atol(argv[2]);
  const packet::MacAddr uplink_mac{{2, 0, 0, 0, 0, 2}}, router_mac{{2, 0, 0, 0, 0, 1}};
  firewall::PipelineConfig c;
  c.uplink_addr = packet::Ipv4Addr{{192, 168, 100, 2}};
  c.uplink_gateway = packet::Ipv4Addr{{192, 168, 100, 1}};
  c.uplink_mac = uplink_mac;
  c.default_rules = {std::get<firewall::Rule>(firewall::parse_rule("action=accept"))};
  daemon::Dataplane dp(c, 7);
  dp.vif_up({netback::VifId{0, 1}, xen::DomId{5}, 0, "work", kClientMac, xen::IpList{{packet::Ipv4Addr{{10, 137, 0, 5}}}, {}}});
  dp.vif_up({netback::VifId{1, 1}, xen::DomId{6}, 0, "other", kClientMac, xen::IpList{{packet::Ipv4Addr{{10, 137, 0, 6}}}, {}}});
  dp.from_uplink(writable(hex({2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 6, 0, 1, 8, 0, 6, 4, 0, 2, 2, 0, 0, 0, 0, 1,
                               192, 168, 100, 1, 2, 0, 0, 0, 0, 2, 192, 168, 100, 2})), false);
  // The flow: work's first datagram goes out (no uplink attached: it is dropped after the
  // pipeline), then the answers come back.
  dp.from_guest(netback::VifId{0, 1}, writable(udp(Ip4{"10.137.0.5", "192.0.2.1"}, 40000, 9999, Bytes(64 - 42))), {});
  const auto sink = std::make_shared<Sink>();
  nlohmann::json req{{"target", "work"}};
  if (which == "other") req["target"] = "other";
  if (which == "filtered") req["filter"] = compile("tcp");
  if (which == "taking") sink->room_ = SIZE_MAX;
  if (which != "none") {
    auto spec = daemon::capture_spec(req);
    if (!std::holds_alternative<daemon::CaptureSpec>(spec)) return 2;
    dp.captures().add(std::get<daemon::CaptureSpec>(spec), sink);
  }
  const Bytes back = udp(Ip4{"192.0.2.1", "192.168.100.2", 64, router_mac, uplink_mac}, 9999, 40000, Bytes(64 - 42));
  // Each frame lands in the uplink's receive buffer first (the netfront's copy out of the shared
  // page, AF_PACKET's recvmmsg), where the pipeline rewrites it.
  Bytes rx(back.size());
  for (long i = 0; i < n; ++i) {
    std::copy(back.begin(), back.end(), rx.begin());
    dp.from_uplink(rx, false);
  }
  const uint64_t forwarded = dp.uplink_forwarded();  // (and the ARP reply before them)
  std::printf("%s: %ld frames, %llu from the uplink forwarded, %llu bytes of capture events\n", which.c_str(), n,
              static_cast<unsigned long long>(forwarded), static_cast<unsigned long long>(sink->bytes));
  return forwarded >= uint64_t(n) ? 0 : 1;
}
