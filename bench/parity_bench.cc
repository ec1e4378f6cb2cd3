// What the parity checks (docs/parity.md) cost an established flow's frame, in instructions
// (run under callgrind by bench/parity_cost.sh, which prints the table). It uses only the
// Pipeline calls that existed before those checks, so the same source measures the commit
// before them.
//   parity_bench CASE N       forward N frames of CASE:
//     udp64            64-byte UDP from the VM, checksum complete (verified now)
//     udp64_validated  the same with NETTXF_data_validated (the guest vouches: not verified)
//     udp64_blank      the same with NETTXF_csum_blank (completed, as before)
//     tcp1460_uplink   1460 bytes of TCP data from the uplink on an open connection (checksum
//                      verified, window checked)
//     tcp1460_blank    1460 bytes of TCP data from the VM with NETTXF_csum_blank (window checked)
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "firewall/pipeline.h"
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
const Ip4 kOut{"10.137.0.5", "192.0.2.1"};
const Ip4 kBack{"192.0.2.1", "192.168.100.2", 64, kRouterMac, kUplinkMac};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: parity_bench CASE N\n");
    return 2;
  }
  const std::string c = argv[1];
  const long n = std::atol(argv[2]);
  Sink sink;
  firewall::PipelineConfig cfg;
  cfg.uplink_addr = packet::Ipv4Addr{{192, 168, 100, 2}};
  cfg.uplink_gateway = packet::Ipv4Addr{{192, 168, 100, 1}};
  cfg.uplink_mac = kUplinkMac;
  firewall::Pipeline pl(cfg, sink, 7);
  pl.vif_up({kVif, xen::DomId{5}, 0, "work", kClientMac, xen::IpList{{packet::Ipv4Addr{{10, 137, 0, 5}}}, {}}});
  pl.set_rules("work", {std::get<firewall::Rule>(firewall::parse_rule("action=accept"))});
  (void)pl.from_uplink(hex({2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 6, 0, 1, 8, 0, 6, 4, 0, 2, 2, 0, 0, 0, 0, 1,
                            192, 168, 100, 1, 2, 0, 0, 0, 0, 2, 192, 168, 100, 2}), 0);
  const bool tcp_case = c.rfind("tcp", 0) == 0;
  if (tcp_case) {  // the handshake: the connection is open both ways
    (void)pl.from_client(kVif, tcp(kOut, 40000, 80, 0x02, 1000, 0), {}, 0);
    (void)pl.from_uplink(tcp(kBack, 80, 40000, 0x12, 5000, 1001), 0);
    (void)pl.from_client(kVif, tcp(kOut, 40000, 80, 0x10, 1001, 5001), {}, 0);
  }
  netback::TxFlags flags;
  Bytes f;
  bool from_uplink = false;
  if (c == "udp64" || c == "udp64_validated" || c == "udp64_blank") {
    f = udp(kOut, 40000, 9999, Bytes(64 - 42, std::byte{1}));
    flags.data_validated = c != "udp64";
    flags.csum_blank = c == "udp64_blank";
  } else if (c == "tcp1460_uplink") {
    f = tcp(kBack, 80, 40000, 0x18, 5001, 1001, Bytes(1460, std::byte{2}));  // the same segment again:
    from_uplink = true;                                                       // in the window each time
  } else if (c == "tcp1460_blank") {
    f = tcp(kOut, 40000, 80, 0x18, 1001, 5001, Bytes(1460, std::byte{3}));
    flags.csum_blank = flags.data_validated = true;
  } else {
    std::fprintf(stderr, "parity_bench: unknown case %s\n", c.c_str());
    return 2;
  }
  long dropped = 0;
  for (long i = 0; i < n; ++i)
    if (from_uplink ? pl.from_uplink(f, 1) : pl.from_client(kVif, f, flags, 1)) ++dropped;
  if (dropped) {
    std::fprintf(stderr, "parity_bench: %ld of %ld frames dropped\n", dropped, n);
    return 1;
  }
  std::printf("%s: %ld frames, %llu bytes out\n", c.c_str(), n, (unsigned long long)sink.n);
  return 0;
}
