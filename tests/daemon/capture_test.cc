// Captures at the dataplane's taps: which frames a capture takes (a VM's, drops, filtered by a
// program libpcap compiled), what a reader that falls behind costs (frames lost and counted,
// nothing queued), and how a capture ends (its count, its reader); capture_spec() refusing
// what a client may send.
#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "daemon/dataplane.h"
#include "tests/support/packets.h"

namespace {

using nlohmann::json;
using xfw::daemon::CaptureSpec;
using namespace xfw::testing;

struct Sink final : xfw::daemon::CaptureSink {
  std::size_t room_left = 1 << 20;
  std::vector<json> lines;
  bool finished = false;
  [[nodiscard]] std::size_t room() const override { return finished ? 0 : room_left; }
  bool send(std::string line) override {
    if (line.size() > room()) return false;
    lines.push_back(json::parse(line));
    return true;
  }
  void finish(std::string line) override {
    lines.push_back(json::parse(line));
    finished = true;
  }
};

json compile(const std::string& expr) {
  pcap_t* p = pcap_open_dead(DLT_EN10MB, 262144);
  bpf_program prog{};
  EXPECT_EQ(pcap_compile(p, &prog, expr.c_str(), 1, PCAP_NETMASK_UNKNOWN), 0) << pcap_geterr(p);
  json a = json::array();
  for (u_int i = 0; i < prog.bf_len; ++i) a.push_back({prog.bf_insns[i].code, prog.bf_insns[i].jt, prog.bf_insns[i].jf, prog.bf_insns[i].k});
  pcap_freecode(&prog);
  pcap_close(p);
  return a;
}

CaptureSpec spec(json req) {
  auto s = xfw::daemon::capture_spec(req);
  if (const auto* e = std::get_if<std::string>(&s)) ADD_FAILURE() << *e;
  return std::get<CaptureSpec>(s);
}

class CaptureTest : public ::testing::Test {
 protected:
  CaptureTest() : dp(config(), 1) {
    dp.vif_up({kWork, xfw::xen::DomId{5}, 0, "work", kClientMac, xfw::xen::IpList{{*xfw::packet::Ipv4Addr::parse("10.137.0.5")}, {}}});
    dp.vif_up({kOther, xfw::xen::DomId{6}, 0, "other", kClientMac, xfw::xen::IpList{{*xfw::packet::Ipv4Addr::parse("10.137.0.6")}, {}}});
  }
  static xfw::firewall::PipelineConfig config() {
    xfw::firewall::PipelineConfig c;
    c.uplink_addr = xfw::packet::Ipv4Addr::parse("192.168.100.2");
    c.uplink_gateway = xfw::packet::Ipv4Addr::parse("192.168.100.1");
    return c;  // no rules: everything but the gateway's echo is refused (TCP RST, ICMP)
  }
  std::shared_ptr<Sink> start(json req) {
    auto s = std::make_shared<Sink>();
    dp.captures().add(spec(std::move(req)), s);
    return s;
  }
  // The work VM pings its gateway (answered by xfwd) and tries TCP to port 80 (refused).
  void traffic() {
    dp.from_guest(kWork, writable(icmp(Ip4{"10.137.0.5", "10.137.0.1"}, 8, 0, 7, 1)), {});
    dp.from_guest(kWork, writable(tcp(Ip4{"10.137.0.5", "192.0.2.1"}, 40000, 80, 0x02)), {});
    dp.from_guest(kOther, writable(icmp(Ip4{"10.137.0.6", "10.137.0.1"}, 8, 0, 7, 1)), {});
  }
  static std::vector<std::string> dirs(const Sink& s) {
    std::vector<std::string> d;
    for (const auto& l : s.lines)
      if (l["event"] == "frame") d.push_back(l["dir"].get<std::string>() + (l.contains("reason") ? " " + l["reason"].get<std::string>() : ""));
    return d;
  }
  static constexpr xfw::netback::VifId kWork{0, 1}, kOther{1, 1};
  xfw::daemon::Dataplane dp;
};

TEST_F(CaptureTest, NothingRunsUntilACaptureStarts) {
  EXPECT_FALSE(dp.captures().active());
  traffic();  // no sink to reach, nothing recorded
  auto s = start({{"target", "work"}});
  EXPECT_TRUE(dp.captures().active());
  EXPECT_TRUE(s->lines.empty());
}

TEST_F(CaptureTest, AVmsFramesBothWaysAsItSeesThem) {
  auto s = start({{"target", "work"}});
  traffic();
  // The echo request and xfwd's reply; the SYN and the RST refusing it. Nothing of "other".
  EXPECT_EQ(dirs(*s), (std::vector<std::string>{"sent", "received", "sent", "received"}));
  const auto frame = s->lines[0];
  EXPECT_EQ(frame["len"], icmp(Ip4{"10.137.0.5", "10.137.0.1"}, 8, 0, 7, 1).size());
  EXPECT_EQ(frame["data"].get<std::string>().size(), 2 * frame["len"].get<std::size_t>());
  EXPECT_EQ(frame["data"].get<std::string>().substr(0, 12), "feffffffffff");  // to the gateway's MAC
  // By address as well as by name.
  auto by_addr = start({{"target", "10.137.0.6"}});
  traffic();
  EXPECT_EQ(dirs(*by_addr), (std::vector<std::string>{"sent", "received"}));
}

TEST_F(CaptureTest, TheFilterIsTcpdumpsLanguageCompiledByLibpcap) {
  auto s = start({{"target", "work"}, {"filter", compile("tcp and dst port 80")}, {"filter_text", "tcp and dst port 80"}});
  traffic();
  ASSERT_EQ(dirs(*s), std::vector<std::string>{"sent"});
  auto icmp_only = start({{"target", "work"}, {"filter", compile("icmp[icmptype] == icmp-echoreply")}});
  traffic();
  EXPECT_EQ(dirs(*icmp_only), std::vector<std::string>{"received"});
}

TEST_F(CaptureTest, DropsCarryTheirReasonAndVm) {
  auto all = start({{"drops", true}});
  auto other = start({{"target", "other"}, {"drops", true}});
  traffic();
  EXPECT_EQ(dirs(*all), std::vector<std::string>{"dropped rule_policy"});
  EXPECT_EQ(all->lines[0]["vm"], "work");
  EXPECT_TRUE(dirs(*other).empty());
  dp.from_uplink(writable(Bytes(5)), false);  // a runt from the uplink: of no VM
  auto uplink = start({{"target", "uplink"}, {"drops", true}});
  dp.from_uplink(writable(Bytes(5)), false);
  EXPECT_EQ(dirs(*uplink), std::vector<std::string>{"dropped malformed"});
  EXPECT_EQ(uplink->lines[0]["vm"], "");
}

TEST_F(CaptureTest, AReaderThatFallsBehindLosesFramesCountedAndNothingWaits) {
  auto s = start({{"target", "work"}});
  s->room_left = 0;  // its backlog is full
  for (int i = 0; i < 1000; ++i) traffic();
  EXPECT_TRUE(s->lines.empty());
  s->room_left = 1 << 20;
  traffic();
  EXPECT_EQ(dirs(*s).size(), 4u);
  dp.captures().end(1, "reader");
  ASSERT_TRUE(s->finished);
  const json end = s->lines.back();
  EXPECT_EQ(end["event"], "end");
  EXPECT_EQ(end["why"], "reader");
  EXPECT_EQ(end["matched"], 4004);
  EXPECT_EQ(end["sent"], 4);
  EXPECT_EQ(end["lost"], 4000);
  EXPECT_FALSE(dp.captures().active());
}

TEST_F(CaptureTest, EndsAfterCountFramesAndKeepsOnlySnaplenBytes) {
  auto s = start({{"target", "work"}, {"count", 3}, {"snaplen", 14}});
  traffic();
  ASSERT_TRUE(s->finished);
  EXPECT_EQ(dirs(*s).size(), 3u);
  EXPECT_EQ(s->lines[0]["data"].get<std::string>().size(), 28u);
  EXPECT_EQ(s->lines.back()["why"], "count");
  EXPECT_EQ(s->lines.back()["sent"], 3);
  EXPECT_FALSE(dp.captures().active());
}

TEST(CaptureSpec, RefusesWhatIsNotACapture) {
  auto error = [](json req) {
    auto s = xfw::daemon::capture_spec(req);
    return std::holds_alternative<std::string>(s) ? std::get<std::string>(s) : std::string("accepted");
  };
  EXPECT_EQ(error({{"target", "work"}}), "accepted");
  EXPECT_NE(error(json::object()), "accepted");                     // of nothing
  EXPECT_NE(error({{"target", 5}}), "accepted");
  EXPECT_NE(error({{"target", std::string(65, 'a')}}), "accepted");
  EXPECT_NE(error({{"target", "uplink"}, {"after_nat", true}}), "accepted");
  EXPECT_NE(error({{"drops", true}, {"after_nat", true}}), "accepted");
  EXPECT_NE(error({{"target", "work"}, {"snaplen", 0}}), "accepted");
  EXPECT_NE(error({{"target", "work"}, {"snaplen", 262145}}), "accepted");
  EXPECT_NE(error({{"target", "work"}, {"count", -1}}), "accepted");
  EXPECT_NE(error({{"target", "work"}, {"filter", json::array()}}), "accepted");
  EXPECT_NE(error({{"target", "work"}, {"filter", {{6, 0, 0}}}}), "accepted");        // 3 fields
  EXPECT_NE(error({{"target", "work"}, {"filter", {{0x10000, 0, 0, 0}}}}), "accepted");  // code > 16 bits
  EXPECT_EQ(error({{"target", "work"}, {"filter", {{0x06, 0, 0, 0xffff}}}}), "accepted");  // ret #65535
  // Programs bpf_validate refuses: a jump past the end, no return at the end, a load from
  // scratch memory past its 16 words, division by a constant 0.
  EXPECT_EQ(error({{"target", "work"}, {"filter", {{0x15, 5, 0, 0}, {0x06, 0, 0, 0}}}}), "filter: not a valid BPF program");
  EXPECT_EQ(error({{"target", "work"}, {"filter", {{0x28, 0, 0, 12}}}}), "filter: not a valid BPF program");
  EXPECT_EQ(error({{"target", "work"}, {"filter", {{0x60, 0, 0, 16}, {0x06, 0, 0, 0}}}}), "filter: not a valid BPF program");
  EXPECT_EQ(error({{"target", "work"}, {"filter", {{0x34, 0, 0, 0}, {0x06, 0, 0, 0}}}}), "filter: not a valid BPF program");
  // Stray bits in a code: bpf_validate passes it, and bpf_filter would abort() on it (found
  // by fuzz_capture).
  EXPECT_EQ(error({{"target", "work"}, {"filter", {{0x1500, 0, 1, 0x800}, {0x06, 0, 0, 0}}}}), "filter: not a valid BPF program");
  EXPECT_EQ(error({{"target", "work"}, {"filter", {{0x26, 0, 0, 0}}}}), "filter: not a valid BPF program");
  EXPECT_NE(error({{"target", "work"}, {"filter", json::array({json::array({6, 0, 0, 0})}).get<json>()}, {"filter_text", 1}}), "accepted");
}

}  // namespace
