// xfwctl — the administrator's view of xfwd: status, vifs, rules, connections, drops.
//
//   xfwctl status | vifs | stats [--json]
//   xfwctl rules list [VM] [--raw] | add VM RULE... [--before N] | del VM N | replace VM --file F
//   xfwctl rules apply FILE | import-qubesdb FILE | explain VM PROTO DST[:PORT]
//   xfwctl conntrack [VM] | conntrack flush VM
//   xfwctl drops [--follow] | diagnose [VM [PROTO DST[:PORT]]] | top
//   xfwctl capture VM|uplink [--filter EXPR] [-w FILE|-] [--count N] [--after-nat] [--snaplen N]
//   xfwctl capture [VM|uplink] --drops [...]
// Talks to xfwd's control socket (--socket, default /run/xfw/control.sock). Exit status: 0 done,
// 1 xfwd refused the request (the message says why), 2 bad usage or xfwd unreachable.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <array>
#include <optional>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include <pcap/pcap.h>
#include <signal.h>

#include <csignal>
#include <memory>
#include <span>

#include "ctl/files.h"
#include "ctl/top.h"
#include "packet/describe.h"
#include "firewall/rule.h"

using nlohmann::json;

namespace {

struct Usage {
  std::string msg;
};
struct Refused {
  std::string msg;
};

class Connection {
 public:
  explicit Connection(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (fd_ < 0 || path.size() >= sizeof sa.sun_path) throw Usage{"cannot use socket " + path};
    std::memcpy(sa.sun_path, path.c_str(), path.size());
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
      throw Usage{"cannot reach xfwd at " + path + ": " + std::strerror(errno) +
                  (errno == ENOENT ? " (is xfwd running?)" : errno == EACCES ? " (root or the xfw group only)" : "")};
  }
  ~Connection() {
    if (fd_ >= 0) ::close(fd_);
  }
  // A failed write is not fatal: xfwd may have refused the connection and said why, which
  // the next read returns.
  void send(json req) {
    req["version"] = 1;
    const std::string line = req.dump() + "\n";
    std::size_t done = 0;
    while (done < line.size()) {
      const ssize_t n = ::send(fd_, line.data() + done, line.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return;
      done += std::size_t(n);
    }
  }
  // The next line from xfwd, parsed; nullopt at end of stream.
  std::optional<json> next() {
    for (;;) {
      if (const auto nl = buf_.find('\n'); nl != std::string::npos) {
        const std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        auto j = json::parse(line, nullptr, false);
        if (j.is_discarded()) throw Usage{"xfwd sent something that is not JSON"};
        return j;
      }
      char tmp[65536];
      const ssize_t n = ::read(fd_, tmp, sizeof tmp);
      if (n <= 0) return std::nullopt;
      buf_.append(tmp, std::size_t(n));
    }
  }
  // No more requests: xfwd ends a capture or a stream then, and its last lines follow.
  void end_requests() { ::shutdown(fd_, SHUT_WR); }
  [[nodiscard]] int fd() const { return fd_; }
  // One request, one reply; a refusal becomes Refused (with the rule and caret if any).
  json call(json req) { return call_full(std::move(req))["result"]; }
  // The whole reply (fields beside "result").
  json call_full(json req) {
    send(std::move(req));
    auto r = next();
    if (!r) throw Usage{"xfwd closed the connection"};
    if (!r->value("ok", false)) {
      std::string msg = r->value("error", "refused");
      if (r->contains("text") && r->contains("offset"))
        msg += "\n" + xfw::firewall::format_error((*r)["text"].get<std::string>(),
                                                  xfw::firewall::RuleError{(*r)["offset"], (*r)["length"], (*r)["error"]});
      throw Refused{msg};
    }
    return *r;
  }

 private:
  int fd_ = -1;
  std::string buf_;
};

// qvm-firewall's table: NO ACTION HOST PROTOCOL PORT(S) SPECIAL TARGET ICMP TYPE EXPIRE COMMENT,
// "-" for what a rule leaves out, numbered from 0; EXPIRE as the time left.
void print_rule_table(const json& texts, const std::string& indent) {
  using namespace xfw::firewall;
  std::vector<std::array<std::string, 9>> rows{
      {"NO", "ACTION", "HOST", "PROTOCOL", "PORT(S)", "SPECIAL TARGET", "ICMP TYPE", "EXPIRE", "COMMENT"}};
  const int64_t now = wall_seconds();
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const auto parsed = parse_rule(texts[i].get<std::string>(), now);
    if (!std::holds_alternative<Rule>(parsed)) continue;  // xfwd sends only what it parsed
    const Rule& r = std::get<Rule>(parsed);
    std::array<std::string, 9> row;
    row.fill("-");
    row[0] = std::to_string(i);
    row[1] = r.action == Action::accept ? "accept" : "drop";
    if (const auto* c = std::get_if<Cidr4>(&r.dst)) row[2] = to_string(*c);
    if (const auto* c = std::get_if<Cidr6>(&r.dst)) row[2] = to_string(*c);
    if (const auto* h = std::get_if<std::string>(&r.dst)) row[2] = *h;
    if (r.proto) row[3] = *r.proto == Proto::tcp ? "tcp" : *r.proto == Proto::udp ? "udp" : "icmp";
    if (r.ports)
      row[4] = r.ports->lo == r.ports->hi ? std::to_string(r.ports->lo)
                                          : std::to_string(r.ports->lo) + "-" + std::to_string(r.ports->hi);
    if (std::holds_alternative<DnsTarget>(r.dst)) row[5] = "dns";
    if (r.icmp_type) row[6] = std::to_string(*r.icmp_type);
    if (r.expire) row[7] = *r.expire > now ? "+" + std::to_string(*r.expire - now) + "s" : "expired";
    if (!r.comment.empty()) row[8] = r.comment;
    rows.push_back(row);
  }
  std::array<std::size_t, 9> w{};
  for (const auto& row : rows)
    for (std::size_t c = 0; c < 9; ++c) w[c] = std::max(w[c], row[c].size());
  for (const auto& row : rows) {
    std::string line = indent;
    for (std::size_t c = 0; c < 9; ++c) line += c == 8 ? row[c] : row[c] + std::string(w[c] - row[c].size() + 2, ' ');
    std::printf("%s\n", line.c_str());
  }
}

std::string human_bytes(uint64_t b) {
  char s[32];
  if (b >= 1ull << 30) std::snprintf(s, sizeof s, "%.1fG", double(b) / double(1ull << 30));
  else if (b >= 1ull << 20) std::snprintf(s, sizeof s, "%.1fM", double(b) / double(1ull << 20));
  else if (b >= 1ull << 10) std::snprintf(s, sizeof s, "%.1fK", double(b) / double(1ull << 10));
  else std::snprintf(s, sizeof s, "%llu", static_cast<unsigned long long>(b));
  return s;
}

std::string clock_of(int64_t ms) {
  const std::time_t t = std::time_t(ms / 1000);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char s[32];
  std::strftime(s, sizeof s, "%H:%M:%S", &tm);
  return s;
}

void print_drop(const json& d) {
  char line[512];
  std::snprintf(line, sizeof line, "%s  %-12s %-26s %s\n", clock_of(d["time_ms"]).c_str(),
                d["vm"].get<std::string>().empty() ? "(uplink)" : d["vm"].get<std::string>().c_str(),
                d["reason"].get<std::string>().c_str(), d["what"].get<std::string>().c_str());
  std::cout << line;
}

// A tcpdump expression compiled by libpcap for Ethernet frames: [[code, jt, jf, k], ...], what
// xfwd runs on each frame. A bad expression is the user's error, with libpcap's message.
json compile_filter(const std::string& expr, uint32_t snaplen) {
  std::unique_ptr<pcap_t, void (*)(pcap_t*)> p(pcap_open_dead(DLT_EN10MB, int(snaplen)), pcap_close);
  bpf_program prog{};
  if (!p || pcap_compile(p.get(), &prog, expr.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0)
    throw Usage{"--filter: " + std::string(p ? pcap_geterr(p.get()) : "libpcap failed")};
  json insns = json::array();
  for (u_int i = 0; i < prog.bf_len; ++i)
    insns.push_back({prog.bf_insns[i].code, prog.bf_insns[i].jt, prog.bf_insns[i].jf, prog.bf_insns[i].k});
  pcap_freecode(&prog);
  return insns;
}

std::string unhex(const std::string& hex) {
  std::string bytes(hex.size() / 2, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = char(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
  return bytes;
}

int capture_fd = -1;  // Ctrl-C ends the capture: xfwd then sends its counts
extern "C" void end_capture(int) {
  if (capture_fd >= 0) ::shutdown(capture_fd, SHUT_WR);
}

struct CaptureArgs {
  std::string target, filter, file;
  bool drops = false, after_nat = false;
  std::optional<uint64_t> count;
  uint32_t snaplen = 262144;
};

// Frames stream from xfwd until its "end" event; they go to a pcap file (or stdout, "-") or,
// without -w, one line each to stdout. When the reader of our output goes away (tcpdump
// quit), or on Ctrl-C, we ask xfwd to end and report its counts.
void capture(Connection& c, const CaptureArgs& a) {
  if (a.target.empty() && !a.drops) throw Usage{"capture: name a VM (or uplink), or give --drops"};
  json req{{"command", "capture"}, {"target", a.target}, {"drops", a.drops}, {"after_nat", a.after_nat},
           {"snaplen", a.snaplen}};
  if (a.count) req["count"] = *a.count;
  if (!a.filter.empty()) req["filter"] = compile_filter(a.filter, a.snaplen), req["filter_text"] = a.filter;
  const json res = c.call(req);  // a refused capture leaves FILE as it was
  std::unique_ptr<pcap_t, void (*)(pcap_t*)> dead(pcap_open_dead(DLT_EN10MB, int(a.snaplen)), pcap_close);
  std::unique_ptr<pcap_dumper_t, void (*)(pcap_dumper_t*)> dump(nullptr, pcap_dump_close);
  if (!a.file.empty()) {
    dump.reset(pcap_dump_open(dead.get(), a.file.c_str()));  // "-": stdout
    if (!dump) throw Usage{"-w " + a.file + ": " + pcap_geterr(dead.get())};
    if (pcap_dump_flush(dump.get()) != 0) throw Usage{"-w " + a.file + ": cannot write"};
  }
  std::string what = a.drops ? "dropped frames" + (a.target.empty() ? "" : " of " + a.target) : a.target;
  if (a.after_nat) what += " (on the uplink, after NAT)";
  if (!a.filter.empty()) what += " matching '" + a.filter + "'";
  capture_fd = c.fd();
  struct sigaction sa{};
  sa.sa_handler = end_capture;
  sa.sa_flags = SA_RESTART | SA_RESETHAND;  // a second Ctrl-C ends xfwctl at once
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a closed pipe is seen as a failed write
  // Only now: "capturing" means Ctrl-C ends the capture and prints its counts (a script, or the
  // test, may wait for this line before it sends SIGINT).
  std::fprintf(stderr, "capturing %s to %s%s\n", what.c_str(),
               a.file.empty() ? "stdout" : a.file == "-" ? "stdout (pcap)" : a.file.c_str(),
               a.count ? "" : "; Ctrl-C stops");
  if (!a.drops && res.value("vifs", 0) == 0)
    std::fprintf(stderr, "(%s has no vif attached now: waiting for it)\n", a.target.c_str());
  bool reading = true;  // our reader still takes output
  uint64_t written = 0;
  for (;;) {
    auto e = c.next();
    if (!e) throw Refused{"xfwd ended the capture without its counts (it stopped?): " + std::to_string(written) + " frames written"};
    if ((*e)["event"] == "end") {
      const uint64_t lost = (*e)["lost"];
      std::fprintf(stderr, "%llu frames captured, %llu lost%s\n", static_cast<unsigned long long>(written),
                   static_cast<unsigned long long>(lost), lost ? " (the reader fell behind; they are not in the capture)" : "");
      return;
    }
    if ((*e)["event"] != "frame" || !reading) continue;
    const std::string bytes = unhex((*e)["data"].get<std::string>());
    const int64_t us = (*e)["time_us"];
    if (dump) {
      pcap_pkthdr h{};
      h.ts.tv_sec = time_t(us / 1000000);
      h.ts.tv_usec = suseconds_t(us % 1000000);
      h.caplen = bpf_u_int32(bytes.size());
      h.len = (*e)["len"].get<bpf_u_int32>();
      pcap_dump(reinterpret_cast<u_char*>(dump.get()), &h, reinterpret_cast<const u_char*>(bytes.data()));
      reading = pcap_dump_flush(dump.get()) == 0;
    } else {
      std::string line = clock_of(us / 1000) + "." + std::to_string(1000000 + us % 1000000).substr(1) + " ";
      if (e->contains("vm")) line += ((*e)["vm"].get<std::string>().empty() ? std::string("(uplink)") : (*e)["vm"].get<std::string>()) + " ";
      line += (*e)["dir"].get<std::string>() + " " +
              xfw::packet::describe(std::as_bytes(std::span(bytes.data(), bytes.size()))) + ", " +
              std::to_string((*e)["len"].get<uint64_t>()) + " bytes";
      if (e->contains("reason")) line += " [" + (*e)["reason"].get<std::string>() + "]";
      std::cout << line << std::endl;
      reading = bool(std::cout);
    }
    if (reading) ++written;
    else c.end_requests();  // tcpdump (or head) went away: stop, and hear how it went
  }
}

// `diagnose`: the checks a person makes by hand, one line each, "ok", "warn" or "FAIL" with what
// to do. xfwd gives the facts (and asks the resolvers itself); the judging is here.
struct Diagnosis {
  int fails = 0, warns = 0;
  void line(const char* level, const std::string& what, const std::string& fix = "") {
    fails += level[0] == 'F';
    warns += level[0] == 'w';
    std::printf("%-5s %s\n", level, what.c_str());
    if (!fix.empty()) std::printf("      -> %s\n", fix.c_str());
  }
};

std::string rcode_name(int r) {
  static const char* kNames[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"};
  return r >= 0 && r < 6 ? kNames[r] : "rcode " + std::to_string(r);
}

int diagnose(Connection& c, const std::vector<std::string>& args) {
  if (args.size() > 3 || args.size() == 2) throw Usage{"usage: xfwctl diagnose [VM [PROTO DST[:PORT]]]"};
  const std::string vm = args.empty() ? "" : args[0];
  Diagnosis d;
  const json st = c.call({{"command", "status"}});
  d.line("ok", "xfwd " + st["version"].get<std::string>() + " running, " + std::to_string(st["vifs"].get<int>()) + " vifs connected");
  json req{{"command", "diagnose"}, {"probe", true}};
  if (!vm.empty()) req["vm"] = vm;
  json f = c.call(req);
  req.erase("probe");
  // The resolvers' answers come back through the uplink: wait for them (2 s at most).
  for (int i = 0; i < 25; ++i) {
    bool waiting = false;
    for (const auto& p : f["probes"]) waiting |= p["state"] == "waiting";
    if (!waiting) break;
    ::usleep(100'000);
    f = c.call(req);
  }
  const json& up = f["uplink"];
  const std::string ifname = up["interface"];
  if (ifname.empty()) {
    d.line("FAIL", "no uplink interface", "set [uplink] interface in /etc/xfw/xfwd.toml (the interface toward sys-net)");
  } else if (up["operstate"] == "up" || up["operstate"] == "unknown") {
    d.line("ok", "uplink " + ifname + " is up");
  } else {
    d.line("FAIL", "uplink " + ifname + " is " + up["operstate"].get<std::string>(),
           "is sys-net running? `ip link show " + ifname + "` in this VM; `xl network-list` in dom0");
  }
  if (up["address"].is_null())
    d.line("FAIL", "no uplink address", "set [uplink] address, or enable [qubesdb] (dom0 writes /qubes-ip)");
  else
    d.line("ok", "uplink address " + up["address"].get<std::string>());
  if (up["gateway"].is_null()) {
    d.line("FAIL", "no uplink gateway", "set [uplink] gateway, or enable [qubesdb] (dom0 writes /qubes-gateway)");
  } else if (up["gateway_mac"].is_null()) {
    d.line("FAIL", "gateway " + up["gateway"].get<std::string>() + " does not answer ARP: nothing can leave",
           "is sys-net running, and is " + up["gateway"].get<std::string>() + " its address on this link?");
  } else if (up["gateway_heard_s"].get<int64_t>() > 180) {
    d.line("warn", "gateway " + up["gateway"].get<std::string>() + " (" + up["gateway_mac"].get<std::string>() +
                       ") last answered ARP " + std::to_string(up["gateway_heard_s"].get<int64_t>()) + " s ago",
           "xfwd asks every minute: is sys-net still running?");
  } else {
    d.line("ok", "gateway " + up["gateway"].get<std::string>() + " is at " + up["gateway_mac"].get<std::string>());
  }
  if (f["resolvers"].empty())
    d.line("FAIL", "no upstream DNS resolvers: the VMs' DNS cannot be answered",
           "set [firewall] resolvers, or enable [qubesdb] (dom0 writes /qubes-primary-dns)");
  for (const auto& p : f["probes"]) {
    const std::string server = p["server"], ms = std::to_string(p["ms"].get<int64_t>());
    if (p["state"] == "answered" && (p["rcode"] == 0 || p["rcode"] == 3))
      d.line("ok", "resolver " + server + " answers (" + ms + " ms)");
    else if (p["state"] == "answered")
      d.line("warn", "resolver " + server + " answers " + rcode_name(p["rcode"]) + " (" + ms + " ms)",
             "it does not resolve for xfwd: check its configuration (access list, upstream servers)");
    else if (p["state"] == "unsent")
      d.line("FAIL", "resolver " + server + " not asked: the uplink has no address or gateway", "see above");
    else
      d.line("FAIL", "resolver " + server + " does not answer (" + ms + " ms)",
             "is it running in sys-net, and is " + server + " its address? (`[firewall] resolvers`, QubesDB /qubes-primary-dns)");
  }
  if (f.contains("qubesdb")) {
    const json& q = f["qubesdb"];
    if (q["connected"] == true && q["synced"] == true) d.line("ok", "QubesDB connected, rules and network read");
    else
      d.line("FAIL", "QubesDB not connected (" + q["socket"].get<std::string>() + "): " + q["last_error"].get<std::string>(),
             "is qubes-db.service running? (`systemctl status qubes-db`)");
  }
  if (!vm.empty()) {
    const json& v = f["vm"];
    if (v["vifs"].empty())
      d.line("FAIL", "no vif of " + vm, "is " + vm + " running, with this VM as its netvm? (`xfwctl vifs` lists the vifs; a VM is named by address when names cannot be read)");
    for (const auto& x : v["vifs"]) {
      const std::string id = "vif " + std::to_string(x["domid"].get<int>()) + "." + std::to_string(x["devid"].get<int>());
      if (x.contains("refused")) {
        d.line("FAIL", id + " refused: " + x["refused"].get<std::string>(), "the toolstack's settings for the vif are wrong (see xfwd's journal)");
        continue;
      }
      if (x["connected"] != true) {
        d.line("FAIL", id + " is not connected (" + x["state"].get<std::string>() + ")" +
                           (x.contains("disconnected") ? ": " + x["disconnected"].get<std::string>() : ""),
               "its netfront has not connected: `dmesg | grep -i xen` in " + vm);
        continue;
      }
      std::string ips;
      for (const auto& a : x["ips"]) ips += (ips.empty() ? "" : ", ") + a.get<std::string>();
      d.line("ok", id + " connected, " + vm + " has " + ips + " (anything it sends from another address is dropped)");
      auto yes = [&](const char* k) { return x[k] == true ? "yes" : "no"; };
      d.line("ok", id + ": MTU " + std::to_string(x["mtu"].get<int>()) + ", scatter-gather " + yes("sg") + ", GSO tcpv4 " +
                       yes("gso4") + ", tcpv6 " + yes("gso6"));
      if (x["rx_stalled"] == true)
        d.line("warn", vm + " posts no receive buffers: frames to it wait or are dropped", "is it hung? (its console, `xl console`)");
    }
    if (v.contains("rules_invalid"))
      d.line("FAIL", "its rules were refused, everything it sends is dropped: " + v["rules_invalid"].get<std::string>(),
             "fix them in dom0 (qvm-firewall " + vm + ")");
    for (const auto& x : v["dns"]) {
      const std::string what = "DNS (udp " + x["dst"].get<std::string>() + ":53)";
      if (x["verdict"] == "accept") d.line("ok", what + " allowed: " + x["reason"].get<std::string>());
      else d.line("FAIL", what + " blocked: " + x["reason"].get<std::string>(), "add `action=accept specialtarget=dns` before it");
    }
    if (args.size() == 3) {
      json q{{"command", "rules.explain"}, {"vm", vm}, {"proto", args[1]}};
      const auto [addr, port] = xfw::ctl::split_destination(args[2]);
      q["dst"] = addr;
      if (port) q["port"] = *port;
      const json x = c.call(q);
      const std::string what = args[1] + " " + args[2];
      if (x["verdict"] == "accept") d.line("ok", what + " allowed: " + x["reason"].get<std::string>());
      else d.line("FAIL", what + (x["verdict"] == "reject" ? " rejected: " : " dropped: ") + x["reason"].get<std::string>(),
                  x.value("source", "") == "qubesdb" ? "change the rules in dom0 (qvm-firewall " + vm + ")"
                                                     : "`xfwctl rules add " + vm + " action=accept ...` before it");
    }
    const json& drops = v["drops"];
    bool spoofed = false;
    for (const auto& x : drops) spoofed |= x["reason"] == "spoofed_source";
    if (spoofed)
      d.line("FAIL", vm + " sends from addresses it was not given", "its network settings (ip addr) differ from the toolstack's (qvm-prefs " + vm + " ip)");
    if (drops.empty()) d.line("ok", "no recent drops of " + vm);
    for (std::size_t i = drops.size() > 5 ? drops.size() - 5 : 0; i < drops.size(); ++i)
      d.line("warn", "dropped " + clock_of(drops[i]["time_ms"]) + " " + drops[i]["reason"].get<std::string>() + ": " +
                         drops[i]["what"].get<std::string>());
  }
  std::printf("%d failed, %d warnings\n", d.fails, d.warns);
  return d.fails ? 1 : 0;
}

// The first word that is neither an option nor --socket's value must name one of a's
// subcommands (and, for one that has subcommands of its own, the next word one of those):
// CLI11 alone answers an unknown one with "A subcommand is required", or prints the main help
// for `xfwctl diagnose --help`. The message names the command and lists the known ones.
std::optional<std::string> unknown_command(CLI::App& app, int argc, char** argv) {
  CLI::App* at = &app;
  std::string path = "xfwctl";
  for (int i = 1; i < argc; ++i) {
    const std::string w = argv[i];
    if (w == "--socket") {
      ++i;
      continue;
    }
    if (w.empty() || w[0] == '-') continue;
    const auto subs = at->get_subcommands([](CLI::App*) { return true; });
    if (subs.empty()) return std::nullopt;  // the rest are arguments
    std::string known;
    CLI::App* next = nullptr;
    for (CLI::App* sub : subs) {
      known += (known.empty() ? "" : ", ") + sub->get_name();
      if (sub->get_name() == w) next = sub;
    }
    if (!next) return "unknown command \"" + w + "\" for " + path + " (its commands: " + known + ")";
    path += " " + w;
    at = next;
  }
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"xfwctl: manage xfwd, the userspace Xen network backend and firewall"};
  app.require_subcommand(1);
  std::string socket_path = "/run/xfw/control.sock";
  bool as_json = false;
  app.add_option("--socket", socket_path, "xfwd's control socket");
  app.add_flag("--json", as_json, "machine-readable output");

  auto* status = app.add_subcommand("status", "version, uptime, uplink, number of vifs and flows");
  auto* vifs = app.add_subcommand("vifs", "every attached vif with its counters");
  auto* stats = app.add_subcommand("stats", "drops per reason and per vif");
  auto* rules = app.add_subcommand("rules", "show and change the per-VM firewall rules");
  rules->require_subcommand(1);
  std::string vm, file, proto, dst;
  std::vector<std::string> rule_words;
  bool raw = false;
  std::size_t number = 0;
  std::optional<std::size_t> before;
  auto* r_list = rules->add_subcommand("list", "the rules of VM (or of every VM), numbered");
  r_list->add_option("VM", vm, "a VM's name (or address)");
  r_list->add_flag("--raw", raw, "each rule as one line of Qubes syntax (what `rules add` takes)");
  auto* r_add = rules->add_subcommand("add", "add RULE (Qubes syntax, as qvm-firewall takes it) at the end, or before rule N");
  r_add->add_option("VM", vm)->required();
  r_add->add_option("RULE", rule_words,
                    "words, or one string: action=accept proto=tcp dstports=443 dsthost=192.0.2.0/24 "
                    "expire=+3600 comment=any text (comment last)")->required();
  r_add->add_option("--before", before, "insert before rule N");
  auto* r_del = rules->add_subcommand("del", "delete rule N of VM");
  r_del->add_option("VM", vm)->required();
  r_del->add_option("N", number)->required();
  auto* r_replace = rules->add_subcommand("replace", "replace all of VM's rules with FILE's, at once");
  r_replace->add_option("VM", vm)->required();
  r_replace->add_option("--file", file, "one rule per line; # comments")->required();
  auto* r_apply = rules->add_subcommand("apply", "replace every VM's rules with FILE's, at once");
  r_apply->add_option("FILE", file, "[VM] lines, each followed by its rules")->required();
  auto* r_import = rules->add_subcommand("import-qubesdb", "the rules of a QubesDB dump (qubesdb-multiread -f /qubes-firewall/), VMs keyed by address");
  r_import->add_option("FILE", file, "the dump")->required();
  auto* r_explain = rules->add_subcommand("explain", "which rule decides a packet of VM's, and why");
  r_explain->add_option("VM", vm)->required();
  r_explain->add_option("PROTO", proto, "tcp, udp or icmp")->required();
  r_explain->add_option("DST", dst, "address, address:port or [IPv6]:port")->required();
  auto* conntrack = app.add_subcommand("conntrack", "connections (of VM), or `conntrack flush VM`");
  std::vector<std::string> ct_args;
  conntrack->add_option("ARGS", ct_args, "[VM] | flush VM");
  auto* drops = app.add_subcommand("drops", "recent drops with VM, packet and reason");
  bool follow = false;
  drops->add_flag("--follow,-f", follow, "keep printing new drops");
  auto* top = app.add_subcommand("top", "a live view of the VMs by rate (packets and bytes each way, connections, drops); q quits");
  auto* diagnose_cmd = app.add_subcommand("diagnose", "check the uplink, the resolvers and (of VM) the vif, the rules for DNS and for DST; each line ok, warn or FAIL with what to do");
  std::vector<std::string> diag_args;
  diagnose_cmd->add_option("ARGS", diag_args, "[VM [PROTO DST[:PORT]]]");
  auto* capture_cmd = app.add_subcommand("capture", "frames of a VM or of the uplink, or dropped frames, as lines or as pcap (tcpdump, Wireshark)");
  CaptureArgs cap;
  capture_cmd->add_option("TARGET", cap.target, "a VM's name or address, or uplink");
  capture_cmd->add_option("--filter", cap.filter, "tcpdump's filter expression, compiled by libpcap: 'tcp port 443'");
  capture_cmd->add_option("-w", cap.file, "write pcap to FILE (- for stdout: | tcpdump -nr -)");
  capture_cmd->add_option("--count,-c", cap.count, "stop after N frames");
  capture_cmd->add_flag("--drops", cap.drops, "dropped frames (of TARGET, or all), with their reasons");
  capture_cmd->add_flag("--after-nat", cap.after_nat, "the VM's frames as they are on the uplink");
  capture_cmd->add_option("--snaplen,-s", cap.snaplen, "bytes kept of each frame")->check(CLI::Range(1, 262144));

  // --json and --socket may come after the subcommand too (`xfwctl rules explain ... --json`).
  std::function<void(CLI::App*)> fall = [&](CLI::App* a) {
    for (auto* sub : a->get_subcommands({})) {
      sub->fallthrough();
      fall(sub);
    }
  };
  fall(&app);
  if (const auto e = unknown_command(app, argc, argv)) {
    std::fprintf(stderr, "xfwctl: %s\n", e->c_str());
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  try {
    Connection c(socket_path);
    auto out = [&](const json& j) { std::cout << j.dump(2) << "\n"; };
    if (*status) {
      const json r = c.call({{"command", "status"}});
      if (as_json) return out(r), 0;
      std::printf("xfwd %s, up %llds\nuplink: %s\nvifs: %llu connected\nflows: %llu of %llu\n",
                  r["version"].get<std::string>().c_str(), r["uptime_s"].get<long long>(),
                  r["uplink"].get<std::string>().empty() ? "(none)" : r["uplink"].get<std::string>().c_str(),
                  r["vifs"].get<unsigned long long>(), r["flows"].get<unsigned long long>(),
                  r["flow_limit"].get<unsigned long long>());
      if (const json& u = r.value("uplink_status", json()); u.is_object() && u.value("kind", "") == "netfront") {
        std::printf("  %s, backend %s (%s): %s; %llu connects, %llu resets%s%s%s%s\n",
                    u["frontend"].get<std::string>().c_str(), u["backend"].get<std::string>().c_str(),
                    u["backend_state"].get<std::string>().c_str(), u["connected"].get<bool>() ? "connected" : "not connected",
                    u["connects"].get<unsigned long long>(), u["resets"].get<unsigned long long>(),
                    u["last_reset"].is_string() ? ", the last: " : "",
                    u["last_reset"].is_string() ? u["last_reset"].get<std::string>().c_str() : "",
                    u["refused"].get<std::string>().empty() ? "" : "; refused: ", u["refused"].get<std::string>().c_str());
      }
      if (const json& q = r.value("qubesdb", json()); q.is_object())
        std::printf("qubesdb: %s, %s, rules of %llu clients%s%s\n", q["socket"].get<std::string>().c_str(),
                    q["connected"].get<bool>() ? (q["synced"].get<bool>() ? "connected" : "connected, reading")
                                               : "not connected (the last rules stay)",
                    q["clients"].get<unsigned long long>(), q["last_error"].get<std::string>().empty() ? "" : "; last error: ",
                    q["last_error"].get<std::string>().c_str());
    } else if (*vifs) {
      const json r = c.call({{"command", "vifs"}});
      if (as_json) return out(r), 0;
      std::printf("%-6s %-5s %-12s %-28s %-17s %-10s %9s %8s %9s %8s %8s\n", "DOMID", "DEVID", "VM", "IP",
                  "MAC", "STATE", "RX-PKTS", "RX", "TX-PKTS", "TX", "DROPPED");
      for (const auto& v : r) {
        std::string ips;
        for (const auto& ip : v["ips"]) ips += (ips.empty() ? "" : ",") + ip.get<std::string>();
        std::string name = v["vm"].get<std::string>().empty() ? v["name"].get<std::string>() : v["vm"].get<std::string>();
        std::printf("%-6d %-5d %-12s %-28s %-17s %-10s %9llu %8s %9llu %8s %8llu\n", v["domid"].get<int>(),
                    v["devid"].get<int>(), name.empty() ? "-" : name.c_str(), ips.c_str(),
                    v["mac"].get<std::string>().c_str(), v["state"].get<std::string>().c_str(),
                    v["rx_packets"].get<unsigned long long>(), human_bytes(v["rx_bytes"]).c_str(),
                    v["tx_packets"].get<unsigned long long>(), human_bytes(v["tx_bytes"]).c_str(),
                    v["dropped"].get<unsigned long long>());
      }
    } else if (*stats) {
      const json r = c.call({{"command", "stats"}});
      if (as_json) return out(r), 0;
      std::printf("%-32s %12s\n", "DROP REASON", "COUNT");
      for (const auto& [k, v] : r["drops"].items()) std::printf("%-32s %12llu\n", k.c_str(), v.get<unsigned long long>());
      for (const auto& [k, v] : r["netback_drops"].items())
        std::printf("%-32s %12llu\n", ("netback." + k).c_str(), v.get<unsigned long long>());
      std::printf("\n%-14s %-6s %12s %12s\n", "VM", "DOMID", "FORWARDED", "DROPPED");
      for (const auto& v : r["vifs"])
        std::printf("%-14s %-6d %12llu %12llu\n", v["vm"].get<std::string>().c_str(), v["domid"].get<int>(),
                    v["forwarded"].get<unsigned long long>(), v["dropped"].get<unsigned long long>());
      std::printf("\nfrom the uplink to VMs: %llu\n", r["uplink_forwarded"].get<unsigned long long>());
      for (const auto& [key, text] : {std::pair{"segmented", "TCP super-frames cut into segments for a VM"},
                                      std::pair{"gso_to_vms", "TCP super-frames passed to VMs as GSO"},
                                      std::pair{"gso_to_uplink", "TCP super-frames sent to the uplink as GSO"}})
        if (const auto n = r.value(key, uint64_t{0}); n > 0) std::printf("%s: %llu\n", text, static_cast<unsigned long long>(n));
    } else if (*rules) {
      if (*r_list) {
        json req{{"command", "rules.list"}};
        if (!vm.empty()) req["vm"] = vm;
        const json full = c.call_full(req);
        const json& r = full["result"];
        if (as_json) return out(r), 0;
        const json sources = full.value("sources", json::object()), refused = full.value("refused", json::object());
        bool any_qubesdb = false;
        for (const auto& [name, src] : sources.items()) any_qubesdb |= src == "qubesdb";
        for (const auto& [name, list] : r.items()) {
          const std::string src = sources.value(name, "");
          std::printf("%s%s:\n", name.c_str(),
                      src == "qubesdb" ? " (from QubesDB: change it in dom0)" : any_qubesdb && src == "local" ? " (local)" : "");
          if (refused.contains(name))
            std::printf("  refused, everything is dropped: %s\n", refused[name].get<std::string>().c_str());
          else if (list.empty()) std::printf("  (no rules: everything is dropped)\n");
          else if (!raw) print_rule_table(list, "  ");
          if (raw)
            for (std::size_t i = 0; i < list.size(); ++i) std::printf("  %3zu  %s\n", i, list[i].get<std::string>().c_str());
        }
      } else if (*r_add) {
        std::string rule_text;  // the words as qvm-firewall takes them, or one quoted string
        for (const auto& w : rule_words) rule_text += (rule_text.empty() ? "" : " ") + w;
        auto parsed = xfw::firewall::parse_rule(rule_text);
        if (const auto* e = std::get_if<xfw::firewall::RuleError>(&parsed))
          throw Refused{"bad rule:\n" + xfw::firewall::format_error(rule_text, *e)};
        // Sent in canonical form: expire=+N made absolute, dstports=443 as 443-443, ...
        json req{{"command", "rules.add"}, {"vm", vm}, {"rule", xfw::firewall::to_string(std::get<xfw::firewall::Rule>(parsed))}};
        if (before) req["before"] = *before;
        const json r = c.call(req);
        if (as_json) return out(r), 0;
        std::printf("added as rule %llu of %s\n", r["number"].get<unsigned long long>(), vm.c_str());
      } else if (*r_del) {
        const json r = c.call({{"command", "rules.del"}, {"vm", vm}, {"number", number}});
        if (as_json) return out(r), 0;
        std::printf("deleted rule %zu of %s (%llu connections cut)\n", number, vm.c_str(), r["cut"].get<unsigned long long>());
      } else if (*r_replace) {
        const auto list = xfw::ctl::read_rule_file(file);
        const json r = c.call({{"command", "rules.replace"}, {"vm", vm}, {"rules", list}});
        if (as_json) return out(r), 0;
        std::printf("%s: %zu rules in force (%llu connections cut)\n", vm.c_str(), list.size(), r["cut"].get<unsigned long long>());
      } else if (*r_apply) {
        const auto all = xfw::ctl::read_apply_file(file);
        const json r = c.call({{"command", "rules.apply"}, {"rules", all}});
        if (as_json) return out(r), 0;
        std::printf("rules of %zu VMs in force (%llu connections cut)\n", all.size(), r["cut"].get<unsigned long long>());
      } else if (*r_import) {
        const auto vms = xfw::ctl::read_qubesdb_dump(file);
        const json r = c.call({{"command", "rules.merge"}, {"rules", vms}});
        if (as_json) return out(r), 0;
        std::printf("rules of %zu VMs imported (%llu connections cut)\n", vms.size(), r["cut"].get<unsigned long long>());
      } else if (*r_explain) {
        json req{{"command", "rules.explain"}, {"vm", vm}, {"proto", proto}};
        const auto [addr, port] = xfw::ctl::split_destination(dst);
        req["dst"] = addr;
        if (port) req["port"] = *port;
        const json r = c.call(req);
        if (as_json) return out(r), 0;
        std::printf("%s: %s%s\n", r["verdict"].get<std::string>().c_str(), r["reason"].get<std::string>().c_str(),
                    r.value("source", "") == "qubesdb" ? " [rules from QubesDB]" : "");
      }
    } else if (*conntrack) {
      json req{{"command", "conntrack"}};
      if (!ct_args.empty() && ct_args[0] == "flush") {
        if (ct_args.size() != 2) throw Usage{"usage: xfwctl conntrack flush VM"};
        const json r = c.call({{"command", "conntrack.flush"}, {"vm", ct_args[1]}});
        if (as_json) return out(r), 0;
        std::printf("%llu connections of %s removed\n", r["flushed"].get<unsigned long long>(), ct_args[1].c_str());
        return 0;
      }
      if (ct_args.size() > 1) throw Usage{"usage: xfwctl conntrack [VM] | conntrack flush VM"};
      if (ct_args.size() == 1) req["vm"] = ct_args[0];
      const json r = c.call(req);
      if (as_json) return out(r), 0;
      std::printf("%-12s %-6s %-40s %-40s %-11s %7s %5s\n", "VM", "PROTO", "FROM", "TO", "STATE", "EXPIRES", "RULE");
      for (const auto& f : r) {
        const std::string from = f["src"].get<std::string>() + ":" + std::to_string(f["sport"].get<int>());
        std::string to = f["dst"].get<std::string>() + ":" + std::to_string(f["dport"].get<int>());
        if (f["nat_dst"] != f["dst"]) to += " (" + f["nat_dst"].get<std::string>() + ")";
        std::printf("%-12s %-6s %-40s %-40s %-11s %6llds %5d\n", f["vm"].get<std::string>().c_str(),
                    f["proto"].get<std::string>().c_str(), from.c_str(), to.c_str(),
                    f["state"].get<std::string>().c_str(), f["expires_s"].get<long long>(), f["rule"].get<int>());
      }
    } else if (*drops) {
      c.send({{"command", "drops"}, {"follow", follow}});
      auto r = c.next();
      if (!r || !r->value("ok", false)) throw Refused{r ? r->value("error", "refused") : "no reply"};
      if (as_json && !follow) return out((*r)["result"]), 0;  // an array; with --follow, JSON lines
      for (const auto& d : (*r)["result"]) as_json ? (void)(std::cout << d.dump() << "\n") : print_drop(d);
      std::cout.flush();
      while (follow && std::cout) {  // until xfwd goes away or our reader does
        auto e = c.next();
        if (!e) break;
        as_json ? (void)(std::cout << e->dump() << "\n") : print_drop(*e);
        std::cout.flush();
      }
    } else if (*top) {
      return xfw::ctl::run_top([&](const json& req) { return c.call(req); });
    } else if (*diagnose_cmd) {
      return diagnose(c, diag_args);
    } else if (*capture_cmd) {
      capture(c, cap);
    }
  } catch (const Usage& u) {
    std::fprintf(stderr, "xfwctl: %s\n", u.msg.c_str());
    return 2;
  } catch (const Refused& r) {
    std::fprintf(stderr, "xfwctl: %s\n", r.msg.c_str());
    return 1;
  } catch (const xfw::ctl::FileError& e) {
    std::fprintf(stderr, "xfwctl: %s\n", e.msg.c_str());
    return 1;
  } catch (const json::exception& e) {
    std::fprintf(stderr, "xfwctl: unexpected reply from xfwd (%s)\n", e.what());
    return 2;
  }
  return 0;
}
