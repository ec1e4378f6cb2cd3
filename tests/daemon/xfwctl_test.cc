// xfwctl against a running `xfwd --xen=sim`: every command's text and JSON, errors and exit
// statuses, socket authorization, and rules that survive a restart.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

struct Result {
  int status;
  std::string out;  // stdout and stderr
};

Result sh(const std::string& cmd) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  std::string out;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int st = pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

class Xfwctl : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("xfwctl." + std::to_string(::getpid()) + "." +
                                             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream(dir_ / "xfwd.toml") << R"([control]
group = "nogroup"
[rules]
"10.137.0.10" = ["action=accept proto=tcp dstports=443-443", "action=accept specialtarget=dns"]
)";
    start();
  }
  void TearDown() override {
    stop(SIGTERM);
    fs::remove_all(dir_);
  }
  void start() {
    pid_ = ::fork();
    if (pid_ == 0) {
      const std::string cfg = (dir_ / "xfwd.toml").string(), sock = socket(), state = (dir_ / "state").string();
      ::execl(XFWD_PATH, XFWD_PATH, "--xen=sim", "--config", cfg.c_str(), "--control-socket", sock.c_str(),
              "--state-dir", state.c_str(), "--sim-guests", "2", "--log-level", "error", nullptr);
      ::_exit(127);
    }
    for (int i = 0; i < 200 && !fs::exists(socket()); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    // Both simulated guests attached.
    for (int i = 0; i < 200; ++i) {
      if (ctl("status").out.find("vifs: 2 connected") != std::string::npos) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  void stop(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    int st = 0;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
  }
  std::string socket() const { return (dir_ / "control.sock").string(); }
  Result ctl(const std::string& args) { return sh(std::string(XFWCTL_PATH) + " --socket " + socket() + " " + args); }
  json ctl_json(const std::string& args) {
    const auto r = ctl(args + " --json");
    EXPECT_EQ(r.status, 0) << r.out;
    auto j = json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.out;
    return j;
  }
  std::string write_file(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }

  fs::path dir_;
  pid_t pid_ = -1;
};

TEST_F(Xfwctl, StatusAndVifs) {
  auto r = ctl("status");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("xfwd 0.1.0, up "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\nuplink: (none)\nvifs: 2 connected\nflows: 0 of 65536\n"), std::string::npos) << r.out;
  const json s = ctl_json("status");
  for (const char* k : {"version", "uptime_s", "uplink", "vifs", "flows", "flow_limit"}) EXPECT_TRUE(s.contains(k)) << k;
  EXPECT_GT(s["heap_bytes"].get<uint64_t>(), 1u << 20);  // at least the preallocated flow table

  r = ctl("vifs");
  EXPECT_EQ(r.out.substr(0, r.out.find('\n')),
            "DOMID  DEVID VM           IP                           MAC               STATE        RX-PKTS       RX   TX-PKTS       TX  DROPPED");
  EXPECT_NE(r.out.find("\n10     0     10.137.0.10  10.137.0.10                  00:16:3e:5e:6c:00 Connected "), std::string::npos) << r.out;
  const json v = ctl_json("vifs");
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0]["domid"], 10);
  EXPECT_EQ(v[0]["ips"], json::array({"10.137.0.10"}));
  EXPECT_EQ(v[0]["state"], "Connected");
  EXPECT_GT(v[0]["rx_packets"].get<uint64_t>(), 0u);  // the simulated guests send frames
  EXPECT_EQ(v[0]["netback_drops"], json::object());   // well-behaved: none, by reason
  EXPECT_EQ(v[0]["rx_stalled"], false);
  EXPECT_FALSE(v[0].contains("disconnected"));
}

TEST_F(Xfwctl, RulesListAddDelExplain) {
  EXPECT_EQ(ctl("rules list").out,  // qvm-firewall's columns
            "10.137.0.10:\n"
            "  NO  ACTION  HOST  PROTOCOL  PORT(S)  SPECIAL TARGET  ICMP TYPE  EXPIRE  COMMENT\n"
            "  0   accept  -     tcp       443      -               -          -       -\n"
            "  1   accept  -     -         -        dns             -          -       -\n");
  EXPECT_EQ(ctl("rules list --raw").out,
            "10.137.0.10:\n"
            "    0  action=accept proto=tcp dstports=443-443\n"
            "    1  action=accept specialtarget=dns\n");
  EXPECT_EQ(ctl_json("rules list 10.137.0.10"),
            json::parse(R"({"10.137.0.10": ["action=accept proto=tcp dstports=443-443", "action=accept specialtarget=dns"]})"));
  EXPECT_EQ(ctl("rules list vm9").out, "vm9:\n  (no rules: everything is dropped)\n");

  EXPECT_EQ(ctl("rules explain 10.137.0.10 tcp 192.0.2.1:443").out,
            "accept: rule 0: action=accept proto=tcp dstports=443-443\n");
  EXPECT_EQ(ctl("rules explain 10.137.0.10 tcp 192.0.2.1:80").out, "reject: no rule matched: policy drop\n");
  EXPECT_EQ(ctl_json("rules explain 10.137.0.10 tcp 192.0.2.1:80"),
            json::parse(R"({"verdict": "reject", "rule": null, "reason": "no rule matched: policy drop", "source": "local"})"));
  EXPECT_EQ(ctl_json("rules explain 10.137.0.10 udp 10.139.1.1:53")["rule"], 1);
  // A rule without a destination matches IPv6 too.
  EXPECT_EQ(ctl("rules explain 10.137.0.10 tcp [2001:db8::1]:443").out, "accept: rule 0: action=accept proto=tcp dstports=443-443\n");
  EXPECT_EQ(ctl("rules explain 10.137.0.10 udp 2001:db8::1").out, "reject: no rule matched: policy drop\n");

  auto r = ctl("rules add 10.137.0.10 'action=accept proto=tcp dstports=80-80' --before 0");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, "added as rule 0 of 10.137.0.10\n");
  EXPECT_EQ(ctl("rules explain 10.137.0.10 tcp 192.0.2.1:80").out, "accept: rule 0: action=accept proto=tcp dstports=80-80\n");
  r = ctl("rules add 10.137.0.10 'action=drop'");
  EXPECT_EQ(r.out, "added as rule 3 of 10.137.0.10\n");
  r = ctl("rules del 10.137.0.10 0");
  EXPECT_EQ(r.out, "deleted rule 0 of 10.137.0.10 (0 connections cut)\n");
  EXPECT_EQ(ctl("rules list 10.137.0.10 --raw").out,
            "10.137.0.10:\n"
            "    0  action=accept proto=tcp dstports=443-443\n"
            "    1  action=accept specialtarget=dns\n"
            "    2  action=drop\n");
}

// As qvm-firewall takes rules: several words, dstports=PORT, dsthost=ADDRESS, expire=+SECONDS
// (a temporary rule xfwd removes when it passes), comment= with spaces.
TEST_F(Xfwctl, QvmFirewallHabits) {
  auto r = ctl("rules add 10.137.0.10 action=accept proto=tcp dstports=8443 dsthost=192.0.2.0/24 comment=the build farm");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(ctl_json("rules list 10.137.0.10")["10.137.0.10"][2],
            "action=accept proto=tcp dst4=192.0.2.0/24 dstports=8443-8443 comment=the build farm");
  r = ctl("rules add 10.137.0.10 action=accept proto=udp dstports=123 expire=+2 --before 0");
  EXPECT_EQ(r.out, "added as rule 0 of 10.137.0.10\n");
  const std::string table = ctl("rules list 10.137.0.10").out;
  EXPECT_NE(table.find("  0   accept  -             udp       123      -               -          +"), std::string::npos) << table;
  EXPECT_NE(table.find("  3   accept  192.0.2.0/24  tcp       8443     -               -          -       the build farm\n"),
            std::string::npos) << table;
  EXPECT_EQ(ctl("rules explain 10.137.0.10 udp 192.0.2.9:123").out.substr(0, 14), "accept: rule 0");
  // Gone within a second of its time: stored, and the decision follows.
  for (int i = 0; i < 50 && ctl_json("rules list 10.137.0.10")["10.137.0.10"].size() == 4; ++i) usleep(100'000);
  EXPECT_EQ(ctl_json("rules list 10.137.0.10")["10.137.0.10"].size(), 3u);
  EXPECT_EQ(ctl("rules explain 10.137.0.10 udp 192.0.2.9:123").out, "reject: no rule matched: policy drop\n");
  // Errors still point at the word, words or one string.
  r = ctl("rules add 10.137.0.10 action=accept dsthost=-bad.example");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("dsthost: label -bad starts or ends with '-'"), std::string::npos) << r.out;
}

TEST_F(Xfwctl, ErrorsSayWhatIsWrongAndExitNonZero) {
  auto r = ctl("rules add 10.137.0.10 'action=accept proto=tcp dstports=443-80'");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out,
            "xfwctl: bad rule:\n"
            "action=accept proto=tcp dstports=443-80\n"
            "                        ^^^^^^^^^^^^^^^ dstports: low port 443 is above high port 80\n");
  r = ctl("rules del 10.137.0.10 7");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "xfwctl: 10.137.0.10 has no rule 7 (it has 2)\n");
  r = ctl("rules add 10.137.0.10 action=drop --before 9");
  EXPECT_EQ(r.out, "xfwctl: --before: 10.137.0.10 has no rule 9 (it has 2)\n");
  r = ctl("rules explain 10.137.0.10 sctp 192.0.2.1");
  EXPECT_EQ(r.out, "xfwctl: proto: must be tcp, udp or icmp\n");
  r = ctl("rules explain 'bad vm' tcp 192.0.2.1");
  EXPECT_EQ(r.out, "xfwctl: bad VM name \"bad vm\"\n");
  r = ctl("frobnicate");
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.out, "xfwctl: unknown command \"frobnicate\" for xfwctl (its commands: status, vifs, stats, rules, "
                   "conntrack, drops, top, diagnose, capture)\n");
  r = ctl("frobnicate --help");  // not the main help with exit 0
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.out.rfind("xfwctl: unknown command \"frobnicate\" for xfwctl", 0), 0u) << r.out;
  r = ctl("rules lsit");
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.out, "xfwctl: unknown command \"lsit\" for xfwctl rules (its commands: list, add, del, replace, "
                   "apply, import-qubesdb, explain)\n");
  r = sh(std::string(XFWCTL_PATH) + " --socket /nonexistent/x.sock status");
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.out, "xfwctl: cannot reach xfwd at /nonexistent/x.sock: No such file or directory (is xfwd running?)\n");
  // Nothing changed through all of that.
  EXPECT_EQ(ctl_json("rules list 10.137.0.10")["10.137.0.10"].size(), 2u);
}

TEST_F(Xfwctl, ReplaceAndApplyFilesAtomically) {
  const auto f = write_file("work.rules", "# work's rules\naction=accept proto=tcp dstports=22-22\n\naction=accept proto=icmp\n");
  auto r = ctl("rules replace 10.137.0.10 --file " + f);
  EXPECT_EQ(r.out, "10.137.0.10: 2 rules in force (0 connections cut)\n");
  EXPECT_EQ(ctl_json("rules list 10.137.0.10")["10.137.0.10"],
            json::array({"action=accept proto=tcp dstports=22-22", "action=accept proto=icmp"}));
  const auto bad = write_file("bad.rules", "action=accept\naction=accept proto=tcp dstports=22-22\naction=allow\n");
  r = ctl("rules replace 10.137.0.10 --file " + bad);
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "xfwctl: " + bad + ":3: action: must be accept or drop\naction=allow\n^^^^^^^^^^^^ action: must be accept or drop\n");
  const auto all = write_file("all.rules", "[10.137.0.11]\naction=accept\n[vm-off]\naction=drop\n");
  r = ctl("rules apply " + all);
  EXPECT_EQ(r.out, "rules of 2 VMs in force (0 connections cut)\n");
  EXPECT_EQ(ctl_json("rules list"), json::parse(R"({"10.137.0.11": ["action=accept"], "vm-off": ["action=drop"]})"));
  const auto orphan = write_file("orphan.rules", "action=accept\n");
  EXPECT_EQ(ctl("rules apply " + orphan).out, "xfwctl: " + orphan + ":1: a rule before any [VM] line\n");
}

TEST_F(Xfwctl, ImportsAQubesDbDump) {
  const auto dump = write_file("qdb.txt",
                               "/qubes-firewall/10.137.0.11 = \n"
                               "/qubes-firewall/10.137.0.11/policy = drop\n"
                               "/qubes-firewall/10.137.0.11/0001 = action=accept specialtarget=dns\n"
                               "/qubes-firewall/10.137.0.11/0000 = action=accept proto=tcp dstports=443-443\n"
                               "/qubes-firewall/10.137.0.12/policy = accept\n"
                               "/qubes-firewall/10.137.0.12/0000 = action=drop dst4=192.0.2.0/24\n");
  auto r = ctl("rules import-qubesdb " + dump);
  EXPECT_EQ(r.out, "rules of 2 VMs imported (0 connections cut)\n");
  EXPECT_EQ(ctl_json("rules list"),
            json::parse(R"({"10.137.0.10": ["action=accept proto=tcp dstports=443-443", "action=accept specialtarget=dns"],
                            "10.137.0.11": ["action=accept proto=tcp dstports=443-443", "action=accept specialtarget=dns"],
                            "10.137.0.12": ["action=drop dst4=192.0.2.0/24", "action=accept"]})"));
  // Numbers may skip (dom0 leaves out the other family's rules), as the agent reads them.
  const auto gap = write_file("gap.txt", "/qubes-firewall/10.137.0.11/policy = drop\n/qubes-firewall/10.137.0.11/0001 = action=drop\n");
  EXPECT_EQ(ctl("rules import-qubesdb " + gap).status, 0);
  EXPECT_EQ(ctl_json("rules list 10.137.0.11"), json::parse(R"({"10.137.0.11": ["action=drop"]})"));
  const auto no_policy = write_file("nopolicy.txt", "/qubes-firewall/10.137.0.11/0000 = action=drop\n");
  r = ctl("rules import-qubesdb " + no_policy);
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "xfwctl: " + no_policy + ": 10.137.0.11: no policy (accept or drop) was written\n");
  const auto bad_key = write_file("badkey.txt", "/qubes-firewall/10.137.0.11/policy = drop\n/qubes-firewall/10.137.0.11/x = 1\n");
  EXPECT_EQ(ctl("rules import-qubesdb " + bad_key).out, "xfwctl: " + bad_key + ":2: 10.137.0.11: unexpected key x (rules are NNNN)\n");
  const auto bad = write_file("bad.txt", "10.137.0.11/0000 = action=accept proto=tcp dstports=0\n");
  r = ctl("rules import-qubesdb " + bad);
  EXPECT_NE(r.out.find(bad + ":1: dstports: must be PORT or LOW-HIGH"), std::string::npos) << r.out;
}

TEST_F(Xfwctl, StatsDropsConntrack) {
  // The simulated guests send frames that are neither ARP nor IP: counted drops.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto r = ctl("stats");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out.substr(0, r.out.find('\n')), "DROP REASON                             COUNT");
  EXPECT_NE(r.out.find("unsupported_ethertype"), std::string::npos) << r.out;
  const json s = ctl_json("stats");
  EXPECT_GT(s["drops"]["unsupported_ethertype"].get<uint64_t>(), 0u);
  r = ctl("drops");
  EXPECT_NE(r.out.find("10.137.0.10  unsupported_ethertype      ethertype 0x5a5a"), std::string::npos) << r.out;  // the sim guests fill frames with 0x5a
  const json d = ctl_json("drops");
  ASSERT_TRUE(d.is_array());
  ASSERT_FALSE(d.empty());
  EXPECT_EQ(d[0]["reason"], "unsupported_ethertype");
  EXPECT_EQ(ctl("conntrack").out.substr(0, 5), "VM   ");
  EXPECT_EQ(ctl_json("conntrack"), json::array());
  EXPECT_EQ(ctl("conntrack flush 10.137.0.10").out, "0 connections of 10.137.0.10 removed\n");
}

TEST_F(Xfwctl, DropsFollowAndCaptureWriteAPcap) {
  const auto r = ctl("drops --follow --json | grep -m1 '\"event\"'");
  const auto last = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(last.is_discarded()) << r.out;
  EXPECT_EQ(last["event"], "drop");
  const std::string pcap = (dir_ / "drops.pcap").string();
  const auto c = ctl("capture --drops -w " + pcap + " --count 5");
  EXPECT_EQ(c.status, 0) << c.out;
  EXPECT_NE(c.out.find("5 frames captured, 0 lost"), std::string::npos) << c.out;
  std::ifstream f(pcap, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(f)), {});
  ASSERT_GE(bytes.size(), 24u + 5 * 16);
  EXPECT_EQ(bytes.substr(0, 4), std::string("\xd4\xc3\xb2\xa1", 4));  // pcap magic, little-endian
  if (std::system("command -v tcpdump >/dev/null") == 0) {
    const auto t = sh("tcpdump -nn -r " + pcap);
    EXPECT_EQ(t.status, 0) << t.out;
    EXPECT_NE(t.out.find("ethertype Unknown (0x5a5a)"), std::string::npos) << t.out;
  }
}

// The simulated guests send 4000 frames a second each (ethertype 0x5a5a, dropped).
TEST_F(Xfwctl, CaptureAVmLiveIntoTcpdump) {
  if (std::system("command -v tcpdump >/dev/null") != 0) GTEST_SKIP() << "no tcpdump";
  const std::string err = (dir_ / "capture.err").string();
  auto t = ctl("capture 10.137.0.10 --filter 'ether proto 0x5a5a' -w - --count 3 2>" + err + " | tcpdump -nn -e -r -");
  EXPECT_EQ(t.status, 0) << t.out;
  EXPECT_EQ(sh("cat " + err).out, "capturing 10.137.0.10 matching 'ether proto 0x5a5a' to stdout (pcap)\n3 frames captured, 0 lost\n");
  EXPECT_NE(t.out.find("reading from file -, link-type EN10MB"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("5a:5a:5a:5a:5a:5a > 5a:5a:5a:5a:5a:5a, ethertype Unknown (0x5a5a), length 64"), std::string::npos) << t.out;
  EXPECT_EQ(sh("echo '" + t.out + "' | grep -c 'ethertype Unknown'").out, "3\n");
  // Without -w: one line a frame; drops of every VM name the VM and the reason.
  t = ctl("capture --drops --count 2");
  EXPECT_EQ(t.status, 0) << t.out;
  EXPECT_NE(t.out.find(" dropped ethertype 0x5a5a, 64 bytes [unsupported_ethertype]\n"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find(".10 dropped"), std::string::npos) << t.out;
  // tcpdump's own expression errors, from libpcap, before xfwd is asked anything.
  t = ctl("capture 10.137.0.10 --filter 'tcp port'");
  EXPECT_EQ(t.status, 2) << t.out;
  EXPECT_EQ(t.out, "xfwctl: --filter: can't parse filter expression: syntax error\n");
  std::ofstream(dir_ / "keep.pcap") << "old";
  t = ctl("capture uplink --after-nat -w " + (dir_ / "keep.pcap").string());
  EXPECT_EQ(t.status, 1) << t.out;
  EXPECT_EQ(sh("cat " + (dir_ / "keep.pcap").string()).out, "old") << "a refused capture leaves the file alone";
  t = ctl("capture");
  EXPECT_EQ(t.status, 2) << t.out;
}

TEST_F(Xfwctl, CaptureEndsOnCtrlCOrWhenItsReaderQuitsAndSaysWhatWasLost) {
  // Nothing matches: Ctrl-C (SIGINT) ends it, xfwd's counts are printed. SIGINT goes once it says
  // "capturing" (a fixed 0.5 s was too short once, for an ASan build on a loaded machine).
  const std::string xfwctl = std::string(XFWCTL_PATH) + " --socket " + socket();
  const std::string err = (dir_ / "int.err").string();
  auto t = sh("{ " + xfwctl + " capture 10.137.0.10 --filter ip 2>" + err + " & for i in $(seq 300); do grep -q capturing " +
              err + " 2>/dev/null && break; sleep 0.1; done; kill -INT $!; wait $!; s=$?; cat " + err + "; exit $s; }");
  EXPECT_EQ(t.status, 0) << t.out;
  EXPECT_NE(t.out.find("0 frames captured, 0 lost\n"), std::string::npos) << t.out;
  // `head` quits after 2 lines: xfwctl notices the closed pipe and ends the capture.
  t = sh("{ " + xfwctl + " capture 10.137.0.10 2>&3 | head -2; } 3>&1");
  EXPECT_EQ(t.status, 0) << t.out;
  EXPECT_NE(t.out.find(" frames captured, "), std::string::npos) << t.out;
  // A reader that stops reading: xfwd keeps at most its backlog (4 MiB, about 14 000 of these
  // drops) and counts the rest as lost; the guests' frames keep being processed all along. The
  // reader waits until 30 000 more have been dropped (about 4 s; a fixed 4 s was too short on a
  // loaded machine, where the simulated guests send fewer), at most 60 s.
  const auto before = ctl_json("stats")["drops"]["unsupported_ethertype"].get<uint64_t>();
  const std::string wait_drops = "for i in $(seq 300); do n=$(" + xfwctl + " stats --json | tr -d ' \\n' | grep -o "
                                 "'\"unsupported_ethertype\":[0-9]*' | grep -o '[0-9]*$'); [ \"${n:-0}\" -ge " +
                                 std::to_string(before + 30000) + " ] && break; sleep 0.2; done";
  t = sh(xfwctl + " capture --drops -w - 2>" + (dir_ / "slow.err").string() + " | (" + wait_drops +
         "; head -c 1 >/dev/null); cat " + (dir_ / "slow.err").string());
  const auto after = ctl_json("stats")["drops"]["unsupported_ethertype"].get<uint64_t>();
  EXPECT_EQ(t.status, 0) << t.out;
  EXPECT_GT(after - before, 8000u) << "the guests' frames were held up";
  EXPECT_NE(t.out.find(" frames captured, "), std::string::npos) << t.out;
  EXPECT_NE(t.out.find(" lost (the reader fell behind; they are not in the capture)"), std::string::npos) << t.out;
}

// Without an uplink (the simulator's xfwd has none) diagnose says so and exits 1; the VM's
// vif and its DNS rules are checked all the same.
TEST_F(Xfwctl, DiagnoseSaysWhatIsMissingAndWhatToDo) {
  auto r = ctl("diagnose 10.137.0.10 tcp 192.0.2.1:443");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("ok    xfwd 0.1.0 running, 2 vifs connected\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("FAIL  no uplink interface\n      -> set [uplink] interface in /etc/xfw/xfwd.toml"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("FAIL  resolver 10.255.255.53 not asked: the uplink has no address or gateway"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ok    vif 10.0 connected, 10.137.0.10 has 10.137.0.10"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ok    DNS (udp 10.139.1.1:53) allowed: rule 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ok    tcp 192.0.2.1:443 allowed: rule 0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("warn  dropped "), std::string::npos) << r.out;  // the guests' 0x5a5a frames
  EXPECT_NE(r.out.find(" unsupported_ethertype: ethertype 0x5a5a"), std::string::npos) << r.out;
  r = ctl("diagnose 10.137.0.10 tcp 192.0.2.1:80");
  EXPECT_NE(r.out.find("FAIL  tcp 192.0.2.1:80 rejected: no rule matched: policy drop"), std::string::npos) << r.out;
  r = ctl("top");  // popen: no terminal
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_EQ(r.out.rfind("xfwctl: top needs a terminal", 0), 0u) << r.out;
  r = ctl("diagnose 10.137.0.10 tcp");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_EQ(r.out, "xfwctl: usage: xfwctl diagnose [VM [PROTO DST[:PORT]]]\n");
}

TEST_F(Xfwctl, OnlyRootOrTheGroupMayConnect) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to act as other users";
  // The socket is root:nogroup 0660.
  struct stat st{};
  ASSERT_EQ(::stat(socket().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  // nobody's group is nogroup, the configured group: allowed.
  auto r = sh("setpriv --reuid=nobody --regid=nogroup --init-groups " + std::string(XFWCTL_PATH) + " --socket " + socket() + " status");
  EXPECT_EQ(r.status, 0) << r.out;
  // daemon (uid 1) is in neither: the file mode stops it, and so does SO_PEERCRED when the
  // mode would let it through.
  r = sh("setpriv --reuid=daemon --regid=daemon --init-groups " + std::string(XFWCTL_PATH) + " --socket " + socket() + " status");
  EXPECT_EQ(r.status, 2) << r.out;
  ASSERT_EQ(::chmod(socket().c_str(), 0666), 0);
  ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);
  r = sh("setpriv --reuid=daemon --regid=daemon --init-groups " + std::string(XFWCTL_PATH) + " --socket " + socket() + " status");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_EQ(r.out, "xfwctl: permission denied: uid 1 is neither root nor in the xfw control group\n");
  EXPECT_EQ(ctl("status").status, 0);  // the daemon did not mind
}

TEST_F(Xfwctl, MalformedAndOversizedRequestsGetAnErrorReply) {
  auto r = sh("printf 'not json\\n{\"version\":2,\"command\":\"status\"}\\n{\"version\":1}\\n' | socat -t 5 - UNIX-CONNECT:" + socket());
  if (r.status == 127 || r.out.find("not found") != std::string::npos) GTEST_SKIP() << "no socat";
  EXPECT_NE(r.out.find("{\"error\":\"not a JSON object\",\"ok\":false}"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("unsupported protocol version"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("missing \\\"command\\\""), std::string::npos) << r.out;
  // Fields of the wrong type.
  r = sh("printf '{\"version\":1,\"command\":\"rules.explain\",\"vm\":\"x\",\"proto\":5}\\n"
         "{\"version\":1,\"command\":\"rules.add\",\"vm\":[1],\"rule\":{}}\\n' | socat -t 5 - UNIX-CONNECT:" + socket());
  EXPECT_NE(r.out.find("bad request: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("missing \\\"vm\\\""), std::string::npos) << r.out;
  EXPECT_EQ(ctl("status").status, 0);
  r = sh("head -c 70000 /dev/zero | tr '\\0' a | socat -t 5 - UNIX-CONNECT:" + socket());
  EXPECT_NE(r.out.find("request too long"), std::string::npos) << r.out;
  EXPECT_EQ(ctl("status").status, 0);
}

TEST_F(Xfwctl, RulesSurviveARestartAndACrash) {
  ASSERT_EQ(ctl("rules add 10.137.0.11 'action=accept proto=udp dstports=123-123'").status, 0);
  stop(SIGKILL);  // no clean shutdown
  start();
  EXPECT_EQ(ctl_json("rules list 10.137.0.11")["10.137.0.11"], json::array({"action=accept proto=udp dstports=123-123"}));
  // The state, not the config's first rules, is what counts after the first change.
  EXPECT_EQ(ctl_json("rules list 10.137.0.10")["10.137.0.10"].size(), 2u);
  // A corrupt state file stops xfwd with a message naming it, instead of running without rules.
  stop(SIGTERM);
  std::ofstream(dir_ / "state" / "rules.json") << "{\"version\": 1, \"rules\": {\"x\": [\"action=maybe\"]}}";
  const auto r = sh(std::string(XFWD_PATH) + " --xen=sim --config " + (dir_ / "xfwd.toml").string() +
                    " --control-socket " + socket() + " --state-dir " + (dir_ / "state").string());
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("rules.json: x rule 0: action: must be accept or drop"), std::string::npos) << r.out;
}

}  // namespace
