#include "ctl/top.h"

#include <ncurses.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace xfw::ctl {
namespace {

using nlohmann::json;

struct Row {
  std::string vm, domid;
  double in_pps = 0, in_bps = 0, out_pps = 0, out_bps = 0, drops_ps = 0;
  uint64_t conns = 0;
};

struct Sample {
  std::chrono::steady_clock::time_point at;
  std::map<std::string, json> vifs;  // by "domid.devid"
  std::map<std::string, uint64_t> drops;  // by reason (pipeline and netback)
};

Sample take(const std::function<json(const json&)>& call) {
  Sample s;
  s.at = std::chrono::steady_clock::now();
  for (const auto& v : call({{"command", "vifs"}}))
    s.vifs[std::to_string(v["domid"].get<int>()) + "." + std::to_string(v["devid"].get<int>())] = v;
  const json st = call({{"command", "stats"}});
  for (const auto& [k, n] : st["drops"].items()) s.drops[k] += n.get<uint64_t>();
  for (const auto& [k, n] : st["netback_drops"].items()) s.drops[k] += n.get<uint64_t>();
  return s;
}

std::string rate(double v) {
  char s[32];
  if (v >= 1e9) std::snprintf(s, sizeof s, "%.1fG", v / 1e9);
  else if (v >= 1e6) std::snprintf(s, sizeof s, "%.1fM", v / 1e6);
  else if (v >= 1e3) std::snprintf(s, sizeof s, "%.1fk", v / 1e3);
  else std::snprintf(s, sizeof s, "%.0f", v);
  return s;
}

void draw(const Sample& a, const Sample& b, char sort) {
  const double dt = std::max(1e-3, std::chrono::duration<double>(b.at - a.at).count());
  auto per_s = [&](const json& now, const json* before, const char* k) {
    return double(now[k].get<uint64_t>() - (before ? std::min(now[k].get<uint64_t>(), (*before)[k].get<uint64_t>()) : now[k].get<uint64_t>())) / dt;
  };
  std::vector<Row> rows;
  for (const auto& [id, v] : b.vifs) {
    const auto old = a.vifs.find(id);
    const json* p = old == a.vifs.end() ? nullptr : &old->second;
    Row r;
    r.vm = v["vm"].get<std::string>().empty() ? v["name"].get<std::string>() : v["vm"].get<std::string>();
    r.domid = id;
    r.in_pps = per_s(v, p, "rx_packets");
    r.in_bps = per_s(v, p, "rx_bytes");
    r.out_pps = per_s(v, p, "tx_packets");
    r.out_bps = per_s(v, p, "tx_bytes");
    r.drops_ps = per_s(v, p, "dropped");
    r.conns = v.value("flows", uint64_t{0});
    rows.push_back(r);
  }
  std::sort(rows.begin(), rows.end(), [sort](const Row& x, const Row& y) {
    switch (sort) {
      case 'o': return x.out_bps > y.out_bps;
      case 'c': return x.conns > y.conns;
      case 'd': return x.drops_ps > y.drops_ps;
      case 'n': return x.vm < y.vm;
      default: return x.in_bps > y.in_bps;
    }
  });
  erase();
  const char* by = sort == 'o' ? "OUT B/s" : sort == 'c' ? "CONNS" : sort == 'd' ? "DROPS/s" : sort == 'n' ? "VM" : "IN B/s";
  mvprintw(0, 0, "xfwctl top: %zu vifs, sorted by %s  (i o c d n: sort, q: quit; IN = from the VM)", rows.size(), by);
  attron(A_REVERSE);
  mvprintw(2, 0, "%-16s %-8s %10s %10s %10s %10s %8s %9s", "VM", "VIF", "IN pkt/s", "IN B/s", "OUT pkt/s", "OUT B/s", "CONNS", "DROPS/s");
  attroff(A_REVERSE);
  int y = 3;
  for (const auto& r : rows) {
    if (y >= LINES - 8) break;
    mvprintw(y++, 0, "%-16.16s %-8s %10s %10s %10s %10s %8llu %9s", r.vm.c_str(), r.domid.c_str(), rate(r.in_pps).c_str(),
             rate(r.in_bps).c_str(), rate(r.out_pps).c_str(), rate(r.out_bps).c_str(),
             static_cast<unsigned long long>(r.conns), rate(r.drops_ps).c_str());
  }
  ++y;
  attron(A_REVERSE);
  mvprintw(y++, 0, "%-30s %9s %12s", "DROP REASON", "DROPS/s", "TOTAL");
  attroff(A_REVERSE);
  std::vector<std::pair<double, std::string>> reasons;
  for (const auto& [k, n] : b.drops) {
    const auto old = a.drops.find(k);
    reasons.emplace_back(double(n - (old == a.drops.end() ? n : std::min(n, old->second))) / dt, k);
  }
  std::sort(reasons.begin(), reasons.end(), [](const auto& l, const auto& r) { return l.first > r.first; });
  for (const auto& [ps, k] : reasons) {
    if (y >= LINES) break;
    mvprintw(y++, 0, "%-30.30s %9s %12llu", k.c_str(), rate(ps).c_str(), static_cast<unsigned long long>(b.drops.at(k)));
  }
  refresh();
}

}  // namespace

int run_top(const std::function<json(const json&)>& call) {
  if (!::isatty(STDIN_FILENO) || !::isatty(STDOUT_FILENO)) {
    std::fprintf(stderr, "xfwctl: top needs a terminal (for a script: xfwctl vifs --json, xfwctl stats --json)\n");
    return 2;
  }
  Sample before = take(call);  // before the screen changes: an error is printed plainly
  initscr();
  cbreak();
  noecho();
  curs_set(0);
  timeout(100);  // getch() waits at most 100 ms: keys answer at once, the view every second
  char sort = 'i';
  Sample now = before;
  auto next = std::chrono::steady_clock::now();
  try {
    for (;;) {
      if (std::chrono::steady_clock::now() >= next) {
        before = std::move(now);
        now = take(call);
        draw(before, now, sort);
        next = now.at + std::chrono::seconds(1);
      }
      const int ch = getch();
      if (ch == 'q' || ch == 'Q') break;
      if (ch == 'i' || ch == 'o' || ch == 'c' || ch == 'd' || ch == 'n') {
        sort = char(ch);
        draw(before, now, sort);
      }
    }
  } catch (...) {
    endwin();  // leave the terminal usable, then let xfwctl report what happened
    throw;
  }
  endwin();
  return 0;
}

}  // namespace xfw::ctl
