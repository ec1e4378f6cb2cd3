// The QubesDB client (qubesdb/): a conversation with Qubes' real daemon replayed byte for byte
// (recorded/session.{tx,rx}, made by record.sh), the firewall directory as the agent reads it,
// and a hostile daemon.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <random>

#include "qubesdb/session.h"

using namespace xfw::qubesdb;
using xfw::firewall::Action;

namespace {

std::vector<std::byte> slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  EXPECT_TRUE(f) << path;
  std::vector<char> c((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(c.size());
  std::memcpy(out.data(), c.data(), c.size());
  return out;
}

// A message as the daemon sends it (type, path, data), padding bytes set to garbage as the
// daemon leaves them.
std::vector<std::byte> msg(Msg t, std::string_view path, std::string_view data = {}) {
  auto b = encode(t, path, data);
  b[65] = b[66] = b[67] = std::byte{0xa5};
  return b;
}
void append(std::vector<std::byte>& to, const std::vector<std::byte>& b) { to.insert(to.end(), b.begin(), b.end()); }

// The answers a daemon with an empty database gives to start().
std::vector<std::byte> empty_db_answers() {
  std::vector<std::byte> b;
  for (std::size_t i = 0; i < 1 + kKeys.size(); ++i) append(b, msg(Msg::ok, ""));
  append(b, msg(Msg::resp_multiread, ""));
  for (std::size_t i = 0; i < kKeys.size(); ++i) append(b, msg(Msg::error_noent, ""));
  return b;
}

Session synced_empty() {
  Session s;
  (void)s.start();
  (void)s.receive(empty_db_answers());
  EXPECT_TRUE(s.synced());
  EXPECT_EQ(s.error(), "");
  (void)s.take_changes();
  return s;
}

}  // namespace

// Replays what Qubes' qubesdb-daemon 4.3.3 answered (record.sh): the Session must ask exactly what
// it asked then, and end with the same view, however the bytes are cut.
TEST(QubesDbRecorded, ReplayGivesDomZerosView) {
  const auto tx = slurp(XFW_QUBESDB_RECORDED "/session.tx");
  const auto rx = slurp(XFW_QUBESDB_RECORDED "/session.rx");
  ASSERT_GT(rx.size(), 1000u);
  for (std::size_t chunk : {std::size_t(1), std::size_t(7), std::size_t(72), std::size_t(1000), rx.size()}) {
    SCOPED_TRACE("chunk " + std::to_string(chunk));
    Session s;
    std::vector<std::byte> sent = s.start();
    for (std::size_t at = 0; at < rx.size(); at += chunk) {
      append(sent, s.receive(std::span(rx).subspan(at, std::min(chunk, rx.size() - at))));
      ASSERT_EQ(s.error(), "");
    }
    EXPECT_EQ(sent, tx) << "the Session asks something else than it did when recorded: run record.sh again";
    EXPECT_TRUE(s.synced());
    const auto& fw = s.firewall();
    ASSERT_EQ(fw.size(), 3u);
    // 10.137.0.5 rewritten: 0000 left out (a gap), words in another order.
    const FirewallDir& five = fw.at("10.137.0.5");
    EXPECT_EQ(five.error, "");
    ASSERT_EQ(five.rules.size(), 2u);
    EXPECT_EQ(xfw::firewall::to_string(five.rules[0]), "action=drop proto=udp");
    EXPECT_EQ(xfw::firewall::to_string(five.rules[1]), "action=accept proto=tcp dstports=80-80");
    // 10.137.0.6: policy accept, no rules.
    ASSERT_EQ(fw.at("10.137.0.6").rules.size(), 1u);
    EXPECT_EQ(fw.at("10.137.0.6").rules[0].action, Action::accept);
    // 10.137.0.7: a rule that does not parse refuses the whole directory.
    EXPECT_EQ(fw.at("10.137.0.7").error_key, "0000");
    EXPECT_NE(fw.at("10.137.0.7").error.find("rule 0000: dstports"), std::string::npos) << fw.at("10.137.0.7").error;
    EXPECT_TRUE(fw.at("10.137.0.7").rules.empty());
    EXPECT_EQ(s.values().at("/qubes-primary-dns"), "192.168.100.3");
    EXPECT_EQ(s.values().count("/qubes-secondary-dns"), 0u);  // removed
    EXPECT_EQ(s.values().at("/connected-ips"), "10.137.0.5 10.137.0.6 10.137.0.7");
    EXPECT_EQ(s.values().at("/qubes-ip"), "10.138.1.2");
    EXPECT_GE(s.events(), 10u);
  }
}

// The changes a caller applies: the first full read reports everything; later ones only what
// changed, each client once, after dom0's "update complete".
TEST(QubesDbRecorded, ChangesComeAfterTheUpdateCompleteKey) {
  const auto rx = slurp(XFW_QUBESDB_RECORDED "/session.rx");
  Session s;
  (void)s.start();
  std::map<std::string, int> updates;
  bool synced_seen = false;
  for (std::size_t at = 0; at < rx.size(); at += 72) {
    (void)s.receive(std::span(rx).subspan(at, std::min<std::size_t>(72, rx.size() - at)));
    const Changes c = s.take_changes();
    synced_seen |= c.synced;
    for (const auto& [addr, dir] : c.firewall) {
      ASSERT_TRUE(dir.has_value());
      ++updates[addr];
    }
  }
  EXPECT_TRUE(synced_seen);
  EXPECT_EQ(updates["10.137.0.5"], 2);  // the first read, then the one rewrite
  EXPECT_EQ(updates["10.137.0.6"], 1);
  EXPECT_EQ(updates["10.137.0.7"], 1);
}

TEST(QubesDbFirewallDir, AsTheAgentReadsIt) {
  auto rules = [](std::map<std::string, std::string> m) { return parse_firewall_dir(m); };
  EXPECT_EQ(rules({{"0000", "action=accept"}}).error, "no policy (accept or drop) was written");
  EXPECT_EQ(rules({}).error_key, "policy");
  EXPECT_EQ(rules({{"policy", "reject"}}).error, "policy must be accept or drop, got \"reject\"");
  EXPECT_EQ(rules({{"policy", "drop"}, {"comment", "x"}}).error, "unexpected key comment (rules are NNNN)");
  EXPECT_EQ(rules({{"policy", "drop"}, {"00001", "action=accept"}}).error_key, "00001");
  EXPECT_EQ(rules({{"policy", "drop"}, {"0000", "proto=tcp"}}).error_key, "0000");
  EXPECT_TRUE(rules({{"policy", "drop"}}).rules.empty());
  EXPECT_EQ(rules({{"policy", "drop"}}).error, "");
  // NNNN order, not the order written; gaps are fine.
  const auto d = rules({{"policy", "drop"}, {"0010", "action=drop"}, {"0002", "action=accept proto=icmp"}});
  ASSERT_EQ(d.rules.size(), 2u);
  EXPECT_EQ(d.rules[0].action, Action::accept);
  EXPECT_EQ(d.rules[1].action, Action::drop);
  std::map<std::string, std::string> many{{"policy", "drop"}};
  for (int i = 0; i <= int(kMaxRulesPerClient); ++i) {
    char k[8];
    std::snprintf(k, sizeof k, "%04d", i);
    many[k] = "action=accept";
  }
  EXPECT_NE(rules(many).error.find("more than"), std::string::npos);
  EXPECT_TRUE(valid_client_address("10.137.0.5"));
  EXPECT_TRUE(valid_client_address("fd09:24ef:4179::a89:5"));
  EXPECT_FALSE(valid_client_address("010.137.0.5"));
  EXPECT_FALSE(valid_client_address("10.137.0.5/32"));
  EXPECT_FALSE(valid_client_address(""));
}

TEST(QubesDbSession, WatchForAClientReadsItsDirectoryOnce) {
  Session s = synced_empty();
  // dom0 writes rules (each fires the watch: ignored), then the update-complete key, twice.
  std::vector<std::byte> ev;
  append(ev, msg(Msg::resp_watch, "/qubes-firewall/10.137.0.9/policy"));
  append(ev, msg(Msg::resp_watch, "/qubes-firewall/10.137.0.9/0000"));
  append(ev, msg(Msg::resp_watch, "/qubes-firewall/10.137.0.9"));
  append(ev, msg(Msg::resp_watch, "/qubes-firewall/10.137.0.9"));
  const auto asked = s.receive(ev);
  EXPECT_EQ(asked, encode(Msg::multiread, "/qubes-firewall/10.137.0.9/"));  // one read, not two
  std::vector<std::byte> ans;
  append(ans, msg(Msg::resp_multiread, "/qubes-firewall/10.137.0.9/0000", "action=accept proto=tcp"));
  append(ans, msg(Msg::resp_multiread, "/qubes-firewall/10.137.0.9/policy", "drop"));
  append(ans, msg(Msg::resp_multiread, ""));
  EXPECT_TRUE(s.receive(ans).empty());
  EXPECT_EQ(s.error(), "");
  const Changes c = s.take_changes();
  ASSERT_EQ(c.firewall.count("10.137.0.9"), 1u);
  EXPECT_EQ(c.firewall.at("10.137.0.9")->rules.size(), 1u);
  // A watch on something it does not follow, or a bad address, asks nothing.
  EXPECT_TRUE(s.receive(msg(Msg::resp_watch, "/qubes-firewall/not-an-address")).empty());
  EXPECT_TRUE(s.receive(msg(Msg::resp_watch, "/qubes-vm-type")).empty());
  EXPECT_EQ(s.receive(msg(Msg::resp_watch, "/qubes-primary-dns")), encode(Msg::read, "/qubes-primary-dns"));
}

TEST(QubesDbSession, AFloodOfWatchEventsCannotGrowTheQueue) {
  Session s = synced_empty();
  std::vector<std::byte> ev;
  for (int i = 0; i < 100000; ++i) append(ev, msg(Msg::resp_watch, "/qubes-firewall/10.137.0.9"));
  EXPECT_EQ(s.receive(ev).size(), kHeaderSize);  // one request
  EXPECT_EQ(s.error(), "");
  // Distinct addresses, never answered: bounded, then the connection is refused.
  std::vector<std::byte> many;
  for (int i = 0; i < int(Session::kMaxPending) + 10; ++i)
    append(many, msg(Msg::resp_watch, "/qubes-firewall/10.1." + std::to_string(i / 256) + "." + std::to_string(i % 256)));
  (void)s.receive(many);
  EXPECT_NE(s.error().find("requests unanswered"), std::string::npos);
}

// What a compromised daemon may send: each is a protocol error (the caller disconnects), none
// crashes, none is applied.
TEST(QubesDbSession, HostileDaemon) {
  auto after_sync = [](std::vector<std::byte> b) {
    Session s = synced_empty();
    (void)s.receive(b);
    return s.error();
  };
  auto raw = [](uint8_t type, const char* path, uint32_t len, std::string data = {}) {
    std::vector<std::byte> b(kHeaderSize + data.size());
    b[0] = std::byte(type);
    std::memcpy(b.data() + 1, path, std::min<std::size_t>(std::strlen(path), 64));
    std::memcpy(b.data() + 68, &len, 4);
    std::memcpy(b.data() + kHeaderSize, data.data(), data.size());
    return b;
  };
  EXPECT_EQ(after_sync(raw(0, "", 0)), "message of unknown type 0");  // a command, to a client
  EXPECT_EQ(after_sync(raw(200, "", 0)), "message of unknown type 200");
  std::string long_path(64, 'a');
  EXPECT_EQ(after_sync(raw(uint8_t(Msg::resp_watch), long_path.c_str(), 0)), "path not terminated within 64 bytes");
  EXPECT_EQ(after_sync(raw(uint8_t(Msg::resp_watch), "/a b", 0)), "path with a character QubesDB does not allow");
  EXPECT_EQ(after_sync(raw(uint8_t(Msg::resp_watch), "-a", 0)), "path with a character QubesDB does not allow");
  EXPECT_EQ(after_sync(raw(uint8_t(Msg::resp_read), "/x", 0xffffffffu)), "data length 4294967295 over 3072");
  EXPECT_EQ(after_sync(msg(Msg::resp_read, "/qubes-ip", "10.0.0.1")), "unsolicited resp_read /qubes-ip");
  EXPECT_EQ(after_sync(msg(Msg::ok, "")), "unsolicited ok ");
  {  // an answer to another question, a NUL in a value, an entry outside the prefix
    Session s = synced_empty();
    (void)s.receive(msg(Msg::resp_watch, "/qubes-ip"));
    (void)s.receive(msg(Msg::resp_read, "/qubes-gateway", "10.0.0.1"));
    EXPECT_EQ(s.error(), "read /qubes-ip answered with resp_read /qubes-gateway");
  }
  {
    Session s = synced_empty();
    (void)s.receive(msg(Msg::resp_watch, "/qubes-ip"));
    (void)s.receive(msg(Msg::resp_read, "/qubes-ip", std::string("10.0.0.1\0x", 10)));
    EXPECT_EQ(s.error(), "NUL byte in the value of /qubes-ip");
    EXPECT_EQ(s.values().count("/qubes-ip"), 0u);
  }
  {
    Session s = synced_empty();
    (void)s.receive(msg(Msg::resp_watch, "/qubes-firewall/10.137.0.9"));
    (void)s.receive(msg(Msg::resp_multiread, "/qubes-firewall/10.137.0.8/policy", "accept"));
    EXPECT_EQ(s.error(), "multiread /qubes-firewall/10.137.0.9/ answered with /qubes-firewall/10.137.0.8/policy");
    EXPECT_TRUE(s.firewall().empty());
  }
  {  // a multiread that never ends
    Session s = synced_empty();
    (void)s.receive(msg(Msg::resp_watch, "/qubes-firewall/10.137.0.9"));
    const std::string big(3000, 'x');
    std::vector<std::byte> b;
    for (int i = 0; i < 6000 && s.error().empty(); ++i) {
      b = msg(Msg::resp_multiread, "/qubes-firewall/10.137.0.9/" + std::to_string(i), big);
      (void)s.receive(b);
    }
    EXPECT_EQ(s.error(), "multiread /qubes-firewall/10.137.0.9/ answered with more than 16 MiB");
  }
  {  // ever more clients, each answered: bounded too
    Session s = synced_empty();
    for (std::size_t i = 0; i <= Session::kMaxClients && s.error().empty(); ++i) {
      const std::string addr = "10.2." + std::to_string(i / 256) + "." + std::to_string(i % 256);
      std::vector<std::byte> b = msg(Msg::resp_watch, "/qubes-firewall/" + addr);
      (void)s.receive(b);
      b = msg(Msg::resp_multiread, "/qubes-firewall/" + addr + "/policy", "drop");
      append(b, msg(Msg::resp_multiread, ""));
      (void)s.receive(b);
    }
    EXPECT_EQ(s.error(), "more than 4096 clients");
    EXPECT_EQ(s.firewall().size(), Session::kMaxClients);
  }
  {  // the daemon refuses the watch
    Session s;
    (void)s.start();
    (void)s.receive(msg(Msg::error, "/qubes-firewall/"));
    EXPECT_EQ(s.error(), "the daemon refused /qubes-firewall/");
    EXPECT_FALSE(s.synced());
  }
}

// Random bytes after a valid start: never a crash or a hang; whatever is accepted is valid.
TEST(QubesDbSession, RandomBytesAreHarmless) {
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    Session s;
    (void)s.start();
    std::vector<std::byte> b(std::size_t(rng() % 4096));
    for (auto& x : b) x = std::byte(rng());
    if (b.size() > 0) b[0] = std::byte(uint8_t(Msg::ok) + rng() % 7);
    (void)s.receive(b);
    for (const auto& [addr, dir] : s.firewall()) EXPECT_TRUE(valid_client_address(addr));
  }
}
