// The connection state file (daemon/state_file.h): what is written reads back the same, and
// anything else — truncated, corrupt, from another version, boot or configuration, or with one
// bad record — is refused whole, with its reason.
#include <gtest/gtest.h>

#include <boost/crc.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "daemon/state_file.h"

namespace xfw::daemon {
namespace {

using firewall::SavedState;

const BootId kBoot{{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}};
constexpr int64_t kWritten = 100'000;
const StateCheck kCheck{kBoot, kWritten + 500, 65536, 432'000'000 + 1000};

nat::Addr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) { return nat::Addr{{a, b, c, d}}; }

SavedState sample() {
  SavedState s;
  s.identity = "uplink=192.168.100.2 gateway=192.168.100.1 ports=1024-60999";
  s.gateway_mac = packet::MacAddr{{2, 0, 0, 0, 0, 1}};
  s.gateway_heard = kWritten - 10;
  firewall::SavedFlow tcp;
  tcp.flow.orig = nat::Key{v4(10, 137, 0, 5), v4(192, 0, 2, 1), 40000, 80, 6, false};
  tcp.flow.nat_dst = v4(192, 0, 2, 1);
  tcp.flow.nat_port = 40000;
  tcp.flow.tcp = nat::TcpState::established;
  tcp.flow.replied = true;
  tcp.flow.fin_reply = true;
  tcp.flow.rule = 3;
  tcp.flow.expires = kWritten + 432'000'000;
  tcp.domid = 5;
  firewall::SavedFlow udp6;
  udp6.flow.orig = nat::Key{nat::Addr{{0xfd, 9, 0x24, 0xef, 0x41, 0x79, 0, 0, 0, 0, 0, 0, 0x0a, 0x89, 0, 6}},
                            nat::Addr{{0xfd, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}}, 5353, 53, 17, true};
  udp6.flow.nat_dst = udp6.flow.orig.dst;
  udp6.flow.nat_port = 2000;
  udp6.flow.expires = kWritten + 30'000;
  udp6.domid = 6;
  udp6.devid = 1;
  s.flows = {tcp, udp6};
  s.fragments.push_back(firewall::SavedFragment{true, nat::Fragments::Entry{
      packet::Ipv4Addr{{192, 0, 2, 1}}, packet::Ipv4Addr{{192, 168, 100, 2}}, 0x1234, 17, 0, kWritten + 4000}});
  s.hosts.push_back(firewall::SavedHost{"updates.example", firewall::Resolved{{packet::Ipv4Addr{{192, 0, 2, 9}}}, {}},
                                        kWritten + 60'000, kWritten + 30'000});
  return s;
}

std::string why(const std::string& file, const StateCheck& c = kCheck) {
  const auto got = decode_state(file, c);
  const auto* r = std::get_if<StateRefused>(&got);
  return r ? r->why : "adopted";
}

// The file with its checksums made right again (as a writer of another version would).
std::string resign(std::string f) {
  auto crc = [](std::string_view d) {
    boost::crc_32_type c;
    c.process_bytes(d.data(), d.size());
    return c.checksum();
  };
  auto put32 = [&](std::size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) f[at + i] = char(v >> (8 * i));
  };
  put32(12, crc(std::string_view(f).substr(kStateHeader)));
  put32(48, crc(std::string_view(f).substr(0, 48)));
  return f;
}

TEST(StateFile, ReadsBackWhatWasWritten) {
  const std::string f = encode_state(sample(), kBoot, kWritten);
  const auto got = decode_state(f, kCheck);
  ASSERT_TRUE(std::holds_alternative<SavedState>(got)) << std::get<StateRefused>(got).why;
  EXPECT_EQ(std::get<SavedState>(got), sample());
  EXPECT_EQ(f.size(), kStateHeader + 2 + sample().identity.size() + 7 + 8 + 7 + 4 + 2 * 76 + 4 + 26 + 4 +
                          (1 + 15 + 2 + 4 + 2 + 16));
  const SavedState empty;
  EXPECT_EQ(std::get<SavedState>(decode_state(encode_state(empty, kBoot, kWritten), kCheck)), empty);
}

TEST(StateFile, EveryTruncationAndEveryFlippedByteIsRefused) {
  const std::string f = encode_state(sample(), kBoot, kWritten);
  for (std::size_t n = 0; n < f.size(); ++n) EXPECT_NE(why(f.substr(0, n)), "adopted") << "cut at " << n;
  for (std::size_t i = 0; i < f.size(); ++i) {
    for (const int bit : {0x01, 0x80}) {
      std::string g = f;
      g[i] = char(g[i] ^ bit);
      EXPECT_NE(why(g), "adopted") << "byte " << i << " bit " << bit;
    }
  }
  EXPECT_EQ(why(f.substr(0, 20)), "truncated: 20 bytes, the header alone is 56");
  EXPECT_EQ(why(f.substr(0, f.size() - 1)), "truncated: " + std::to_string(f.size() - 1 - kStateHeader) +
                                                 " payload bytes, the header says " + std::to_string(f.size() - kStateHeader));
  EXPECT_EQ(why(f + "x"), "trailing bytes: " + std::to_string(f.size() + 1 - kStateHeader) +
                              " payload bytes, the header says " + std::to_string(f.size() - kStateHeader));
  std::string g = f;
  g.back() = char(g.back() ^ 1);
  EXPECT_EQ(why(g), "checksum mismatch");
  EXPECT_EQ(why("{\"version\": 1}"), "not an xfw state file");
}

TEST(StateFile, AnotherVersionBootOrTimeIsRefused) {
  std::string f = encode_state(sample(), kBoot, kWritten);
  std::string v2 = f;
  v2[8] = 2;
  EXPECT_EQ(why(resign(v2)), "version 2, this xfwd reads version 1");
  StateCheck other = kCheck;
  other.boot[0] ^= 1;
  EXPECT_EQ(why(f, other), "written before the last boot");
  other = kCheck;
  other.now = kWritten - 1;
  EXPECT_EQ(why(f, other), "written 1 ms in the future");
  other = kCheck;
  other.max_flows = 1;
  EXPECT_EQ(why(f, other), "2 flows, more than the table's 1");
}

TEST(StateFile, OneBadRecordRefusesTheWholeFile) {
  auto with = [](auto change) {
    SavedState s = sample();
    change(s);
    return why(encode_state(s, kBoot, kWritten));
  };
  EXPECT_EQ(with([](SavedState& s) { s.flows[0].flow.orig.proto = 1; s.flows[0].flow.tcp = nat::TcpState::none; }), "adopted");
  EXPECT_EQ(with([](SavedState& s) { s.flows[1].flow.orig.proto = 1; }), "flow 1: protocol 1 over IPv6");
  EXPECT_EQ(with([](SavedState& s) { s.flows[0].flow.orig.proto = 47; }), "flow 0: protocol 47 over IPv4");
  EXPECT_EQ(with([](SavedState& s) { s.flows[0].flow.orig.src.b[7] = 1; }), "flow 0: an IPv4 address with padding");
  EXPECT_EQ(with([](SavedState& s) { s.flows[1].flow.tcp = nat::TcpState::established; }), "flow 1: bad TCP state");
  EXPECT_EQ(with([](SavedState& s) { s.flows[0].flow.tcp = nat::TcpState(9); }), "flow 0: bad family, flags or TCP state");
  EXPECT_EQ(with([](SavedState& s) { s.flows[0].domid = 0x7ff0; }), "flow 0: domain id 32752");
  EXPECT_EQ(with([](SavedState& s) { s.flows[0].flow.expires = kWritten + 432'000'000 + 1001; }),
            "flow 0: a timer further ahead than the longest timeout");
  EXPECT_EQ(with([](SavedState& s) { s.fragments[0].entry.flow = 2; }), "fragment binding 0: bad direction, flow or timer");
  EXPECT_EQ(with([](SavedState& s) { s.hosts[0].name = "-bad.example"; }), "name 0: label -bad starts or ends with '-'");
  EXPECT_EQ(with([](SavedState& s) { s.hosts[0].refresh_a = kWritten + 86'400'001; }),
            "updates.example: a refresh further ahead than the longest TTL");
  EXPECT_EQ(with([](SavedState& s) { s.identity = "tab\there"; }), "identity not printable");
  EXPECT_EQ(with([](SavedState& s) { s.gateway_heard = kWritten + 1; }), "gateway heard after the file was written");
}

// The daemon's side: a refused file is kept aside with its reason logged, and the next save
// writes a whole new one.
TEST(StateFile, KeeperWritesAtomicallyAndSetsARefusedFileAside) {
  const auto dir = std::filesystem::temp_directory_path() / ("xfw-state-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "connections").string();
  firewall::PipelineConfig cfg;
  cfg.uplink_addr = packet::Ipv4Addr::parse("192.168.100.2");
  struct : firewall::Egress {
    void to_uplink(std::span<const std::byte>, uint16_t) override {}
    void to_vif(netback::VifId, std::span<const std::byte>) override {}
  } out;
  firewall::Pipeline pl(cfg, out, 1);
  StateKeeper k(path, pl);
  k.load(1000);  // no file: a first start
  k.save(1000);  // on the writer thread
  for (int i = 0; i < 200 && !std::filesystem::exists(path); ++i) ::usleep(10'000);
  ASSERT_TRUE(std::filesystem::exists(path));
  k.save_now(1500);  // waits for the writer, then writes itself
  std::string written;
  {
    std::ifstream in(path, std::ios::binary);
    written.assign(std::istreambuf_iterator<char>(in), {});
  }
  const auto b = boot_id();
  ASSERT_TRUE(b);
  EXPECT_TRUE(std::holds_alternative<SavedState>(decode_state(written, StateCheck{*b, 1500, 65536, 1000})));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  struct stat before{}, after{};
  ASSERT_EQ(::stat(path.c_str(), &before), 0);
  k.save_now(1600);  // nothing changed: the file is not written again
  ASSERT_EQ(::stat(path.c_str(), &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino);
  {  // killed mid-write of an older xfwd without rename: half a file in place
    std::ofstream cut(path, std::ios::binary | std::ios::trunc);
    cut << written.substr(0, written.size() / 2);
  }
  StateKeeper again(path, pl);
  again.load(2000);
  EXPECT_TRUE(std::filesystem::exists(path + ".refused"));
  EXPECT_FALSE(std::filesystem::exists(path));
  again.save_now(2000);
  EXPECT_TRUE(std::filesystem::exists(path));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace xfw::daemon
