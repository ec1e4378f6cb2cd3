#include "xen/parse.h"

#include <charconv>

namespace xfw::xen {

std::optional<uint64_t> parse_uint(std::string_view s, uint64_t max) {
  // from_chars accepts neither '+' nor whitespace; we also refuse leading zeros ("007") so that
  // one number has one spelling, and limit the length before converting.
  if (s.empty() || s.size() > 20) return std::nullopt;
  if (s.size() > 1 && s[0] == '0') return std::nullopt;
  uint64_t v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 10);
  if (ec != std::errc{} || ptr != s.data() + s.size() || v > max) return std::nullopt;
  return v;
}

std::optional<bool> parse_bool01(std::string_view s) {
  if (s == "0") return false;
  if (s == "1") return true;
  return std::nullopt;
}

std::optional<DomId> parse_domid(std::string_view s) {
  const auto v = parse_uint(s, kDomIdFirstReserved - 1);
  if (!v) return std::nullopt;
  return DomId{uint16_t(*v)};
}

std::optional<GrantRef> parse_grant_ref(std::string_view s) {
  const auto v = parse_uint(s, UINT32_MAX);
  if (!v) return std::nullopt;
  return GrantRef{uint32_t(*v)};
}

std::optional<EvtchnPort> parse_evtchn_port(std::string_view s) {
  // Port 0 is never valid; the FIFO ABI allows at most 2^17 ports.
  const auto v = parse_uint(s, (1u << 17) - 1);
  if (!v || *v == 0) return std::nullopt;
  return EvtchnPort{uint32_t(*v)};
}

std::optional<XenbusState> parse_xenbus_state(std::string_view s) {
  const auto v = parse_uint(s, 8);
  if (!v) return std::nullopt;
  return XenbusState(*v);
}

const char* to_string(XenbusState s) {
  switch (s) {
    case XenbusState::unknown: return "Unknown";
    case XenbusState::initialising: return "Initialising";
    case XenbusState::init_wait: return "InitWait";
    case XenbusState::initialised: return "Initialised";
    case XenbusState::connected: return "Connected";
    case XenbusState::closing: return "Closing";
    case XenbusState::closed: return "Closed";
    case XenbusState::reconfiguring: return "Reconfiguring";
    case XenbusState::reconfigured: return "Reconfigured";
  }
  return "?";
}

std::optional<Rate> parse_rate(std::string_view s) {
  const auto comma = s.find(',');
  if (comma == std::string_view::npos) return std::nullopt;
  // Bounds: a window of at most 2^32 us, and at most 2^40 bytes per window, so that
  // bytes * 1e6 / usec cannot overflow in credit arithmetic.
  const auto bytes = parse_uint(s.substr(0, comma), uint64_t(1) << 40);
  const auto usec = parse_uint(s.substr(comma + 1), UINT32_MAX);
  if (!bytes || !usec || *bytes == 0 || *usec == 0) return std::nullopt;
  return Rate{*bytes, *usec};
}

std::optional<IpList> parse_ip_list(std::string_view s) {
  IpList out;
  std::size_t count = 0;
  while (!s.empty()) {
    const auto sp = s.find(' ');
    const auto word = s.substr(0, sp);
    if (word.empty() || ++count > 8) return std::nullopt;
    if (auto v4 = packet::Ipv4Addr::parse(word)) {
      out.v4.push_back(*v4);
    } else if (auto v6 = packet::Ipv6Addr::parse(word)) {
      out.v6.push_back(*v6);
    } else {
      return std::nullopt;
    }
    if (sp == std::string_view::npos) break;
    s.remove_prefix(sp + 1);
    if (s.empty()) return std::nullopt;  // trailing space
  }
  if (count == 0) return std::nullopt;
  return out;
}

}  // namespace xfw::xen
