#include "firewall/rule.h"

#include <charconv>
#include <ctime>

namespace xfw::firewall {
namespace {

std::optional<uint32_t> number(std::string_view s, uint32_t max) {
  uint32_t v = 0;
  if (s.empty() || s.size() > 10 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || v > max) return std::nullopt;
  return v;
}

// Zero bits beyond `len` in a network-order address.
template <std::size_t N>
bool host_bits_clear(const std::array<uint8_t, N>& a, unsigned len) {
  for (std::size_t i = 0; i < N; ++i) {
    const unsigned keep = len >= (i + 1) * 8 ? 8 : len > i * 8 ? len - unsigned(i * 8) : 0;
    const auto mask = uint8_t(keep == 8 ? 0xFF : ~(0xFFu >> keep) & 0xFF);
    if (a[i] & ~mask) return false;
  }
  return true;
}

template <class Cidr, class Addr>
std::optional<std::string> parse_cidr(std::string_view v, unsigned max, Cidr& out) {
  const auto slash = v.find('/');
  const auto addr = Addr::parse(v.substr(0, slash));
  if (!addr) return "not an address: " + std::string(v.substr(0, slash));
  unsigned len = max;
  if (slash != std::string_view::npos) {
    const auto n = number(v.substr(slash + 1), max);
    if (!n) return "prefix length must be 0 to " + std::to_string(max);
    len = *n;
  }
  if (!host_bits_clear(addr->b, len)) return "host bits set after /" + std::to_string(len);
  out = Cidr{*addr, uint8_t(len)};
  return std::nullopt;
}

}  // namespace

// RFC 1123 host names (Qubes' characters: a-z 0-9 - . _): labels of 1 to 63 characters that
// neither start nor end with '-', 253 characters in all; one trailing dot allowed.
std::optional<std::string> hostname_error(std::string_view h) {
  if (!h.empty() && h.back() == '.') h.remove_suffix(1);
  if (h.empty()) return "an empty host name";
  if (h.size() > 253) return "longer than 253 characters";
  for (char c : h)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'))
      return "host names use only a-z 0-9 - . _";
  std::size_t at = 0;
  while (at <= h.size()) {
    const std::size_t end = std::min(h.find('.', at), h.size());
    const std::string_view label = h.substr(at, end - at);
    if (label.empty()) return "an empty label (two dots, or a leading dot)";
    if (label.size() > 63) return "label " + std::string(label.substr(0, 10)) + "... is longer than 63 characters";
    if (label.front() == '-' || label.back() == '-') return "label " + std::string(label) + " starts or ends with '-'";
    at = end + 1;
  }
  return std::nullopt;
}

int64_t wall_seconds() { return int64_t(std::time(nullptr)); }

std::variant<Rule, RuleError> parse_rule(std::string_view text, int64_t now) {
  Rule r;
  bool have_action = false;
  std::string_view seen[8];
  std::size_t nseen = 0;
  std::size_t dst_word = 0, ports_word = 0, icmp_word = 0;
  std::size_t pos = 0;
  auto err = [&](std::size_t off, std::size_t len, std::string msg) {
    return RuleError{off, len, std::move(msg)};
  };
  if (text.empty()) return err(0, 0, "empty rule: it needs at least action=accept or action=drop");
  while (pos <= text.size()) {
    const auto end = std::min(text.find(' ', pos), text.size());
    const std::string_view word = text.substr(pos, end - pos);
    const std::size_t off = pos;
    pos = end + 1;
    if (word.empty()) return err(off, 1, "words are separated by exactly one space");
    const auto eq = word.find('=');
    if (eq == std::string_view::npos) return err(off, word.size(), "expected key=value");
    const auto key = word.substr(0, eq);
    std::string_view val = word.substr(eq + 1);
    if (key == "comment") {  // the rest of the rule, spaces and all
      val = text.substr(off + eq + 1);
      for (char c : val)
        if (uint8_t(c) < 0x20 || c == 0x7f)
          return err(off, text.size() - off, "comment: no control characters (it is one line)");
      if (val.size() > 256) return err(off, text.size() - off, "comment: longer than 256 characters");
      r.comment = std::string(val);
      break;
    }
    for (std::size_t i = 0; i < nseen; ++i) {
      if (seen[i] == key) return err(off, word.size(), std::string(key) + ": given twice");
    }
    auto bad = [&](std::string why) { return err(off, word.size(), std::string(key) + ": " + why); };
    if (key == "action") {
      if (val == "accept") r.action = Action::accept;
      else if (val == "drop") r.action = Action::drop;
      else return bad("must be accept or drop");
      have_action = true;
    } else if (key == "proto") {
      if (val == "tcp") r.proto = Proto::tcp;
      else if (val == "udp") r.proto = Proto::udp;
      else if (val == "icmp") r.proto = Proto::icmp;
      else return bad("must be tcp, udp or icmp");
    } else if (key == "expire") {  // a UNIX time, or +SECONDS from now (qvm-firewall's two forms)
      const bool rel = !val.empty() && val[0] == '+';
      constexpr uint32_t kLatest = 4'000'000'000u;  // 2096: what the canonical form may hold
      const auto t = number(rel ? val.substr(1) : val, kLatest);
      if (!t) return bad("must be a UNIX time or +SECONDS");
      r.expire = rel ? now + int64_t(*t) : int64_t(*t);
      // +SECONDS becomes a UNIX time, which must parse back (found by fuzz_rule).
      if (*r.expire > int64_t(kLatest)) return bad("must be a UNIX time or +SECONDS, no later than 4000000000");
    } else if (key == "dst4" || key == "dst6" || key == "dsthost" || key == "specialtarget") {
      if (!std::holds_alternative<std::monostate>(r.dst))
        return bad("only one of dst4, dst6, dsthost and specialtarget may be given");
      dst_word = off;
      // As qvm-firewall takes it, dsthost may hold an address or a network: dst4 / dst6 then.
      std::string_view kind = key;
      if (key == "dsthost" && !val.empty() && val[0] >= '0' && val[0] <= '9' &&
          val.find_first_not_of("0123456789./") == std::string_view::npos)
        kind = "dst4";
      else if (key == "dsthost" && val.find(':') != std::string_view::npos)
        kind = "dst6";
      if (kind == "dst4") {
        Cidr4 c;
        if (auto why = parse_cidr<Cidr4, packet::Ipv4Addr>(val, 32, c)) return bad(*why);
        r.dst = c;
      } else if (kind == "dst6") {
        Cidr6 c;
        if (auto why = parse_cidr<Cidr6, packet::Ipv6Addr>(val, 128, c)) return bad(*why);
        r.dst = c;
      } else if (kind == "dsthost") {
        if (auto why = hostname_error(val)) return bad(*why);
        r.dst = std::string(val);
      } else {
        if (val != "dns") return bad("the only special target is dns");
        r.dst = DnsTarget{};
      }
    } else if (key == "dstports") {
      const auto dash = val.find('-');  // LOW-HIGH, or one port (qvm-firewall's 443 = 443-443)
      const auto lo = number(val.substr(0, dash), 65535);
      const auto hi = dash == std::string_view::npos ? lo : number(val.substr(dash + 1), 65535);
      if (!lo || !hi || *lo == 0 || *hi == 0) return bad("must be PORT or LOW-HIGH, ports 1 to 65535");
      if (*lo > *hi)
        return bad("low port " + std::to_string(*lo) + " is above high port " + std::to_string(*hi));
      r.ports = PortRange{uint16_t(*lo), uint16_t(*hi)};
      ports_word = off;
    } else if (key == "icmptype") {
      const auto t = number(val, 255);
      if (!t) return bad("must be a number from 0 to 255");
      r.icmp_type = uint8_t(*t);
      icmp_word = off;
    } else {
      return err(off, eq, "unknown key " + std::string(key) +
                              " (known: action proto dst4 dst6 dsthost dstports icmptype "
                              "specialtarget expire comment)");
    }
    if (nseen < std::size(seen)) seen[nseen++] = key;
    if (end == text.size()) break;
  }
  auto word_len = [&](std::size_t off) { return std::min(text.find(' ', off), text.size()) - off; };
  if (!have_action) return err(0, text.size(), "action=accept or action=drop is required");
  if (r.ports && r.proto != Proto::tcp && r.proto != Proto::udp)
    return err(ports_word, word_len(ports_word), "dstports: needs proto=tcp or proto=udp");
  if (r.icmp_type && r.proto != Proto::icmp)
    return err(icmp_word, word_len(icmp_word), "icmptype: needs proto=icmp");
  if (std::holds_alternative<DnsTarget>(r.dst) && r.ports)
    return err(dst_word, word_len(dst_word), "specialtarget: dns already means port 53");
  return r;
}

std::string to_string(const Cidr4& c) { return c.addr.str() + "/" + std::to_string(c.len); }
std::string to_string(const Cidr6& c) { return c.addr.str() + "/" + std::to_string(c.len); }

std::string to_string(const Rule& r) {
  std::string s = r.action == Action::accept ? "action=accept" : "action=drop";
  if (r.proto) s += *r.proto == Proto::tcp ? " proto=tcp" : *r.proto == Proto::udp ? " proto=udp" : " proto=icmp";
  if (const auto* c = std::get_if<Cidr4>(&r.dst)) s += " dst4=" + to_string(*c);
  if (const auto* c = std::get_if<Cidr6>(&r.dst)) s += " dst6=" + to_string(*c);
  if (const auto* h = std::get_if<std::string>(&r.dst)) s += " dsthost=" + *h;
  if (std::holds_alternative<DnsTarget>(r.dst)) s += " specialtarget=dns";
  if (r.ports) s += " dstports=" + std::to_string(r.ports->lo) + "-" + std::to_string(r.ports->hi);
  if (r.icmp_type) s += " icmptype=" + std::to_string(*r.icmp_type);
  if (r.expire) s += " expire=" + std::to_string(*r.expire);
  if (!r.comment.empty()) s += " comment=" + r.comment;
  return s;
}

std::string format_error(std::string_view text, const RuleError& e) {
  std::string out(text);
  out.push_back('\n');
  out.append(e.offset, ' ');
  out.append(std::max<std::size_t>(e.length, 1), '^');
  out.push_back(' ');
  out.append(e.message);
  return out;
}

}  // namespace xfw::firewall
