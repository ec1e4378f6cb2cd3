// The xfwd binary: exit statuses and messages a user sees, and a short simulated run.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace {

struct Run {
  int status;
  std::string out;  // stdout and stderr
};

Run run(const std::string& args) {
  const std::string cmd = std::string(XFWD_PATH) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int st = pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

TEST(Xfwd, BadConfigExits2NamingTheKey) {
  const std::string path = ::testing::TempDir() + "bad.toml";
  std::ofstream(path) << "[netback]\ntx_budget = 999\n";
  const auto r = run("--xen=sim --config " + path);
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.out, "xfwd: config " + path +
                       ": netback.tx_budget: must be between 1 and 256, got 999\n");
}

TEST(Xfwd, CheckConfig) {
  const std::string good = ::testing::TempDir() + "good.toml";
  std::ofstream(good) << "[firewall]\nreject = false\n";
  auto r = run("--check-config --config " + good);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, "xfwd: config " + good + " is valid\n");
  const std::string bad = ::testing::TempDir() + "bad2.toml";
  std::ofstream(bad) << "[firewall]\nrejcet = false\n";
  r = run("--check-config --config " + bad);
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.out, "xfwd: config " + bad + ": firewall.rejcet: unknown key\n");
  // The documented default configuration is valid.
  EXPECT_EQ(run("--check-config --config " XFW_SOURCE_DIR "/systemd/xfwd.toml").status, 0);
}

TEST(Xfwd, MissingExplicitConfigExits2) {
  const auto r = run("--xen=sim --config /nonexistent/xfwd.toml");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("/nonexistent/xfwd.toml: cannot read the file"), std::string::npos);
}

TEST(Xfwd, BadCommandLineExits2) {
  EXPECT_EQ(run("--xen=kvm").status, 2);
  EXPECT_EQ(run("--sim-guests 3").status, 2);  // needs --xen=sim
}

TEST(Xfwd, NoXenDevicesExits2SayingWhich) {
  if (std::ifstream("/dev/xen/xenbus")) GTEST_SKIP() << "this machine runs on Xen";
  const auto r = run("--xen=real --config /dev/null");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("cannot open XenStore (/dev/xen/xenbus"), std::string::npos) << r.out;
}

TEST(Xfwd, SimulatedGuestsAttachAndSendFrames) {
  const auto r = run("--xen=sim --config /dev/null --control-socket '' --state-dir '' --sim-guests 3 --sim-duration 1");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("total: 3 vifs connected"), std::string::npos) << r.out;
  for (const char* ip : {"10.137.0.10", "10.137.0.11", "10.137.0.12"}) {
    const auto line = r.out.find(ip);
    ASSERT_NE(line, std::string::npos) << r.out;
    EXPECT_NE(r.out.find("Connected", line), std::string::npos);
  }
  EXPECT_EQ(r.out.find(" 0 frames from guests"), std::string::npos) << r.out;
}

}  // namespace
