// Fuzz target: the connection state loader (daemon/state_file.h) and the adoption of what it
// accepts (Pipeline::restore/adopt_saved). Whatever the file holds: no crash, the table's
// limits hold, and what the pipeline then saves reads back the same.
// The first byte picks the input's form: 0, a whole file as found in /run/xfw; else a payload,
// given a valid header here so that the records' checks are reached past the checksums.
#include <cstddef>
#include <cstdint>
#include <string>

#include "daemon/state_file.h"
#include "packet/addr.h"

namespace {

using namespace xfw;

struct Null : firewall::Egress {
  void to_uplink(std::span<const std::byte>, uint16_t) override {}
  void to_vif(netback::VifId, std::span<const std::byte>) override {}
};

const daemon::BootId kBoot{{7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7}};
constexpr int64_t kNow = 1'000'000;

firewall::PipelineConfig config() {
  firewall::PipelineConfig c;
  c.uplink_addr = packet::Ipv4Addr::parse("192.168.100.2");
  c.uplink_gateway = packet::Ipv4Addr::parse("192.168.100.1");
  c.uplink_addr6 = packet::Ipv6Addr::parse("fd00:100::2");
  c.resolvers = {*packet::Ipv4Addr::parse("192.168.100.1")};
  c.limits.max_flows = 64;
  c.limits.max_flows_per_vif = 16;
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string file = data[0] == 0 ? std::string(in) : daemon::seal_state(in, kBoot, kNow - 1000);
  Null out;
  firewall::Pipeline pl(config(), out, 1);
  const daemon::StateCheck check{kBoot, kNow, pl.conntrack().capacity(), 432'001'000};
  auto got = daemon::decode_state(file, check);
  auto* s = std::get_if<firewall::SavedState>(&got);
  if (!s) return 0;
  pl.set_rules("work", {firewall::accept_all()});  // untrusted: no rules, its flows are cut
  pl.vif_up(netback::VifInfo{{0, 1}, xen::DomId{5}, 0, "work", packet::MacAddr{}, xen::IpList{{*packet::Ipv4Addr::parse("10.137.0.5")}, {}}}, kNow);
  pl.restore(std::move(*s));
  (void)pl.adopt_saved(kNow);
  pl.vif_up(netback::VifInfo{{1, 1}, xen::DomId{6}, 0, "untrusted", packet::MacAddr{},
                             xen::IpList{{*packet::Ipv4Addr::parse("10.137.0.6")}, {*packet::Ipv6Addr::parse("fd09:24ef:4179::a89:6")}}},
            kNow);
  if (pl.conntrack().size() > pl.conntrack().capacity() || pl.conntrack().vif_flows(0) > 16 || pl.conntrack().vif_flows(1) > 16)
    __builtin_trap();
  pl.tick(kNow + 1);
  const firewall::SavedState saved = pl.save(kNow + 2);
  const auto again = daemon::decode_state(daemon::encode_state(saved, kBoot, kNow + 2), daemon::StateCheck{kBoot, kNow + 2, 64, 432'001'000});
  const auto* back = std::get_if<firewall::SavedState>(&again);
  if (!back || !(*back == saved)) __builtin_trap();
  return 0;
}
