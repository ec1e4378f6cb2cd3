#include "daemon/state_file.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <cstdio>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <zlib.h>

#include "daemon/atomic_file.h"
#include "firewall/rule.h"
#include "packet/parse.h"
#include "xen/types.h"

namespace xfw::daemon {
namespace {

constexpr char kMagic[8] = {'X', 'F', 'W', 'S', 'T', 'A', 'T', 'E'};
constexpr std::size_t kFlowBytes = 76, kFragmentBytes = 26, kMaxIdentity = 1024, kMaxAddrs = 256;

uint32_t crc32(std::string_view d) {  // zlib's CRC-32 (ISO 3309), several bytes per cycle
  return uint32_t(::crc32_z(::crc32_z(0, nullptr, 0), reinterpret_cast<const Bytef*>(d.data()), d.size()));
}

static_assert(std::endian::native == std::endian::little, "the layout is little-endian, written as in memory");

// A record laid out at fixed offsets, appended whole (the snapshot runs every second).
template <std::size_t N>
class Record {
 public:
  template <class T>
  Record& at(std::size_t off, T v) {
    std::memcpy(b_.data() + off, &v, sizeof v);
    return *this;
  }
  template <std::size_t M>
  Record& at(std::size_t off, const std::array<uint8_t, M>& a) {
    std::memcpy(b_.data() + off, a.data(), M);
    return *this;
  }
  void append_to(std::string& out) const { out.append(b_.data(), N); }

 private:
  std::array<char, N> b_{};
};

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}
  template <class T>
  void num(T v) {
    out_.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  template <std::size_t N>
  void bytes(const std::array<uint8_t, N>& b) { out_.append(reinterpret_cast<const char*>(b.data()), N); }
  void text(std::string_view s) { out_.append(s); }

 private:
  std::string& out_;
};

// Every read is bounds-checked; a short read sets the reader failed and yields zeros.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  template <class T>
  T num() {
    if (!take(sizeof(T))) return T{};
    uint64_t v = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) v |= uint64_t(uint8_t(in_[at_ - sizeof(T) + i])) << (8 * i);
    return T(v);
  }
  template <std::size_t N>
  std::array<uint8_t, N> bytes() {
    std::array<uint8_t, N> b{};
    if (take(N)) std::memcpy(b.data(), in_.data() + at_ - N, N);
    return b;
  }
  std::string_view text(std::size_t n) { return take(n) ? in_.substr(at_ - n, n) : std::string_view{}; }
  [[nodiscard]] bool failed() const { return failed_; }
  [[nodiscard]] std::size_t left() const { return in_.size() - at_; }

 private:
  bool take(std::size_t n) {
    if (failed_ || n > in_.size() - at_) return failed_ = true, false;
    at_ += n;
    return true;
  }
  std::string_view in_;
  std::size_t at_ = 0;
  bool failed_ = false;
};

void put_mac(Writer& w, const std::optional<packet::MacAddr>& m) {
  w.num(uint8_t(m.has_value()));
  w.bytes(m ? m->b : std::array<uint8_t, 6>{});
}

std::optional<std::string> get_mac(Reader& r, std::optional<packet::MacAddr>& out) {
  const auto present = r.num<uint8_t>();
  const auto b = r.bytes<6>();
  if (present > 1) return "bad gateway MAC flag";
  if (present) out = packet::MacAddr{b};
  return std::nullopt;
}

bool v4_padded(const nat::Addr& a) {
  for (std::size_t i = 4; i < a.b.size(); ++i)
    if (a.b[i]) return false;
  return true;
}

std::optional<std::string> check_flow(const nat::Flow& f, uint16_t domid, const StateCheck& c, int64_t written) {
  using namespace packet::ipproto;
  const auto& k = f.orig;
  const bool family_ok = k.proto == tcp || k.proto == udp || k.proto == (k.v6 ? icmpv6 : icmp);
  if (!family_ok) return "protocol " + std::to_string(k.proto) + (k.v6 ? " over IPv6" : " over IPv4");
  if (!k.v6 && !(v4_padded(k.src) && v4_padded(k.dst) && v4_padded(f.nat_dst))) return "an IPv4 address with padding";
  if (k.proto != tcp ? f.tcp != nat::TcpState::none : f.tcp > nat::TcpState::closed) return "bad TCP state";
  if (domid >= xen::kDomIdFirstReserved) return "domain id " + std::to_string(domid);
  if (f.expires > written + c.max_ahead_ms) return "a timer further ahead than the longest timeout";
  return std::nullopt;
}

}  // namespace

std::optional<BootId> boot_id() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string s;
  if (!(in >> s)) return std::nullopt;
  BootId id{};
  std::size_t n = 0;
  for (std::size_t i = 0; i + 1 < s.size() && n < id.size(); ++i) {
    if (s[i] == '-') continue;
    if (!std::isxdigit(uint8_t(s[i])) || !std::isxdigit(uint8_t(s[i + 1]))) return std::nullopt;
    id[n++] = uint8_t(std::stoi(s.substr(i, 2), nullptr, 16));
    ++i;
  }
  if (n != id.size()) return std::nullopt;
  return id;
}

namespace {

// Fills the header in front of `file`'s payload (its first kStateHeader bytes).
void fill_header(std::string& file, const BootId& boot, int64_t written_at) {
  const std::string_view payload = std::string_view(file).substr(kStateHeader);
  std::string h;
  Writer w(h);
  w.text(std::string_view(kMagic, sizeof kMagic));
  w.num(kStateVersion);
  w.num(crc32(payload));
  w.num(uint64_t(payload.size()));
  w.bytes(boot);
  w.num(written_at);
  w.num(crc32(h));
  w.num(uint32_t(0));
  file.replace(0, kStateHeader, h);
}

}  // namespace

std::string encode_state(const firewall::SavedState& s, const BootId& boot, int64_t written_at) {
  std::string payload(kStateHeader, '\0');  // the header comes last, in front
  payload.reserve(kStateHeader + 64 + s.identity.size() + s.flows.size() * kFlowBytes + s.fragments.size() * kFragmentBytes);
  Writer w(payload);
  const std::string_view id = std::string_view(s.identity).substr(0, kMaxIdentity);
  w.num(uint16_t(id.size()));
  w.text(id);
  put_mac(w, s.gateway_mac);
  w.num(s.gateway_heard);
  put_mac(w, s.gateway6_mac);
  w.num(uint32_t(s.flows.size()));
  for (const auto& sf : s.flows) {
    const nat::Flow& f = sf.flow;
    Record<kFlowBytes>()
        .at(0, f.orig.src.b)
        .at(16, f.orig.dst.b)
        .at(32, f.orig.sport)
        .at(34, f.orig.dport)
        .at(36, f.orig.proto)
        .at(37, uint8_t(f.orig.v6))
        .at(38, f.nat_dst.b)
        .at(54, f.nat_port)
        .at(56, uint8_t(f.tcp))
        .at(57, uint8_t(f.replied | f.fin_orig << 1 | f.fin_reply << 2))
        .at(58, f.rule)
        .at(62, f.expires)
        .at(70, sf.domid)
        .at(72, sf.devid)
        .append_to(payload);
  }
  w.num(uint32_t(s.fragments.size()));
  for (const auto& fr : s.fragments) {
    w.num(uint8_t(fr.from_uplink));
    w.bytes(fr.entry.src.b);
    w.bytes(fr.entry.dst.b);
    w.num(fr.entry.id);
    w.num(fr.entry.proto);
    w.num(fr.entry.flow);
    w.num(fr.entry.expires);
  }
  w.num(uint32_t(s.hosts.size()));
  for (const auto& h : s.hosts) {
    w.num(uint8_t(h.name.size()));
    w.text(h.name);
    w.num(uint16_t(h.addrs.v4.size()));
    for (const auto& a : h.addrs.v4) w.bytes(a.b);
    w.num(uint16_t(h.addrs.v6.size()));
    for (const auto& a : h.addrs.v6) w.bytes(a.b);
    w.num(h.refresh_a);
    w.num(h.refresh_aaaa);
  }

  fill_header(payload, boot, written_at);
  return payload;
}

std::string seal_state(std::string_view payload, const BootId& boot, int64_t written_at) {
  std::string file(kStateHeader, '\0');
  file += payload;
  fill_header(file, boot, written_at);
  return file;
}

std::string_view state_payload(std::string_view file) {
  return file.size() < kStateHeader ? std::string_view{} : file.substr(kStateHeader);
}

std::variant<firewall::SavedState, StateRefused> decode_state(std::string_view file, const StateCheck& c) {
  auto refuse = [](std::string why) { return StateRefused{std::move(why)}; };
  if (file.size() < sizeof kMagic || std::memcmp(file.data(), kMagic, sizeof kMagic) != 0)
    return refuse("not an xfw state file");
  Reader h(file.substr(0, std::min(file.size(), kStateHeader)));
  (void)h.text(sizeof kMagic);
  const auto version = h.num<uint32_t>();
  if (!h.failed() && version != kStateVersion)
    return refuse("version " + std::to_string(version) + ", this xfwd reads version " + std::to_string(kStateVersion));
  const auto payload_crc = h.num<uint32_t>();
  const auto payload_len = h.num<uint64_t>();
  const auto boot = h.bytes<16>();
  const auto written = h.num<int64_t>();
  const auto header_crc = h.num<uint32_t>();
  const auto zero = h.num<uint32_t>();
  if (h.failed()) return refuse("truncated: " + std::to_string(file.size()) + " bytes, the header alone is " + std::to_string(kStateHeader));
  if (header_crc != crc32(file.substr(0, 48)) || zero != 0) return refuse("header checksum mismatch");
  if (boot != c.boot) return refuse("written before the last boot");
  if (written > c.now) return refuse("written " + std::to_string(written - c.now) + " ms in the future");
  const std::string_view payload = file.substr(kStateHeader);
  if (payload.size() != payload_len)
    return refuse((payload.size() < payload_len ? "truncated: " : "trailing bytes: ") + std::to_string(payload.size()) +
                  " payload bytes, the header says " + std::to_string(payload_len));
  if (crc32(payload) != payload_crc) return refuse("checksum mismatch");

  firewall::SavedState s;
  Reader r(payload);
  const auto id_len = r.num<uint16_t>();
  if (id_len > kMaxIdentity) return refuse("identity longer than " + std::to_string(kMaxIdentity) + " bytes");
  s.identity = std::string(r.text(id_len));
  for (char ch : s.identity)
    if (!std::isprint(uint8_t(ch))) return refuse("identity not printable");
  if (auto e = get_mac(r, s.gateway_mac)) return refuse(*e);
  s.gateway_heard = r.num<int64_t>();
  if (auto e = get_mac(r, s.gateway6_mac)) return refuse(*e);
  if (s.gateway_heard > written) return refuse("gateway heard after the file was written");

  const auto nflows = r.num<uint32_t>();
  if (nflows > c.max_flows) return refuse(std::to_string(nflows) + " flows, more than the table's " + std::to_string(c.max_flows));
  if (std::size_t(nflows) * kFlowBytes > r.left()) return refuse("truncated flows");
  s.flows.resize(nflows);
  for (uint32_t i = 0; i < nflows; ++i) {
    firewall::SavedFlow& sf = s.flows[i];
    nat::Flow& f = sf.flow;
    f.orig.src.b = r.bytes<16>();
    f.orig.dst.b = r.bytes<16>();
    f.orig.sport = r.num<uint16_t>();
    f.orig.dport = r.num<uint16_t>();
    f.orig.proto = r.num<uint8_t>();
    const auto v6 = r.num<uint8_t>();
    f.nat_dst.b = r.bytes<16>();
    f.nat_port = r.num<uint16_t>();
    const auto tcp = r.num<uint8_t>();
    const auto flags = r.num<uint8_t>();
    f.rule = r.num<uint32_t>();
    f.expires = r.num<int64_t>();
    sf.domid = r.num<uint16_t>();
    sf.devid = r.num<uint32_t>();
    if (v6 > 1 || flags > 7 || tcp > uint8_t(nat::TcpState::closed))
      return refuse("flow " + std::to_string(i) + ": bad family, flags or TCP state");
    f.orig.v6 = v6;
    f.tcp = nat::TcpState(tcp);
    f.replied = flags & 1;
    f.fin_orig = flags & 2;
    f.fin_reply = flags & 4;
    if (auto e = check_flow(f, sf.domid, c, written)) return refuse("flow " + std::to_string(i) + ": " + *e);
  }

  const auto nfrags = r.num<uint32_t>();
  if (nfrags > 2 * nat::Fragments::kSlots) return refuse(std::to_string(nfrags) + " fragment bindings");
  for (uint32_t i = 0; i < nfrags && !r.failed(); ++i) {
    firewall::SavedFragment fr;
    const auto dir = r.num<uint8_t>();
    fr.entry.src.b = r.bytes<4>();
    fr.entry.dst.b = r.bytes<4>();
    fr.entry.id = r.num<uint32_t>();
    fr.entry.proto = r.num<uint8_t>();
    fr.entry.flow = r.num<uint32_t>();
    fr.entry.expires = r.num<int64_t>();
    fr.from_uplink = dir == 1;
    if (dir > 1 || fr.entry.flow >= nflows ||
        fr.entry.expires > written + nat::Fragments::kLifetimeMs)
      return refuse("fragment binding " + std::to_string(i) + ": bad direction, flow or timer");
    s.fragments.push_back(fr);
  }

  const auto nhosts = r.num<uint32_t>();
  if (nhosts > c.max_flows) return refuse(std::to_string(nhosts) + " names");
  for (uint32_t i = 0; i < nhosts && !r.failed(); ++i) {
    firewall::SavedHost host;
    host.name = std::string(r.text(r.num<uint8_t>()));
    if (auto e = firewall::hostname_error(host.name)) return refuse("name " + std::to_string(i) + ": " + *e);
    const auto n4 = r.num<uint16_t>();
    if (n4 > kMaxAddrs) return refuse(host.name + ": " + std::to_string(n4) + " addresses");
    for (uint16_t k = 0; k < n4 && !r.failed(); ++k) host.addrs.v4.push_back(packet::Ipv4Addr{r.bytes<4>()});
    const auto n6 = r.num<uint16_t>();
    if (n6 > kMaxAddrs) return refuse(host.name + ": " + std::to_string(n6) + " addresses");
    for (uint16_t k = 0; k < n6 && !r.failed(); ++k) host.addrs.v6.push_back(packet::Ipv6Addr{r.bytes<16>()});
    host.refresh_a = r.num<int64_t>();
    host.refresh_aaaa = r.num<int64_t>();
    const int64_t ttl = int64_t(firewall::HostResolver::kMaxTtl) * 1000;
    if (host.refresh_a > written + ttl || host.refresh_aaaa > written + ttl)
      return refuse(host.name + ": a refresh further ahead than the longest TTL");
    s.hosts.push_back(std::move(host));
  }
  if (r.failed()) return refuse("truncated records");
  if (r.left() != 0) return refuse(std::to_string(r.left()) + " bytes after the last record");
  return s;
}

std::variant<std::optional<std::string>, StateRefused> read_state_file(const std::string& path, std::size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return std::optional<std::string>{};
    return StateRefused{path + ": " + std::strerror(errno)};
  }
  std::string data;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    data.append(buf, std::size_t(in.gcount()));
    if (data.size() > max_bytes) return StateRefused{"larger than " + std::to_string(max_bytes) + " bytes"};
  }
  return std::optional<std::string>{std::move(data)};
}

StateKeeper::StateKeeper(std::string path, firewall::Pipeline& pl) : path_(std::move(path)), pl_(pl) {
  if (const auto b = boot_id()) boot_ = *b;
}

namespace {
int64_t longest(const nat::Timeouts& t) {
  return std::max({t.tcp_syn, t.tcp_established, t.tcp_fin, t.tcp_close, t.udp, t.udp_stream, t.icmp});
}
}  // namespace

void StateKeeper::load(int64_t now) {
  const uint32_t max_flows = pl_.conntrack().capacity();
  auto read = read_state_file(path_, (64u << 20) + std::size_t(max_flows) * 80);
  std::variant<firewall::SavedState, StateRefused> got = StateRefused{};
  if (auto* e = std::get_if<StateRefused>(&read)) {
    got = *e;
  } else if (const auto& data = std::get<std::optional<std::string>>(read); !data) {
    spdlog::info("connections: none saved in {} (a first start)", path_);
    return;
  } else {
    got = decode_state(*data, StateCheck{boot_, now, max_flows, longest(pl_.config().timeouts) + 1000});
  }
  if (const auto* e = std::get_if<StateRefused>(&got)) {
    const std::string kept = path_ + ".refused";
    (void)std::rename(path_.c_str(), kept.c_str());
    spdlog::warn("connections: {} refused, starting with none (kept as {}): {}", path_, kept, e->why);
    return;
  }
  auto& s = std::get<firewall::SavedState>(got);
  spdlog::info("connections: {} read: {} connections, {} fragment bindings, {} names", path_, s.flows.size(),
               s.fragments.size(), s.hosts.size());
  pl_.restore(std::move(s));
}

void StateKeeper::adopt(int64_t now) {
  if (const auto why = pl_.adopt_saved(now)) {
    spdlog::warn("connections: the saved ones are refused, starting with none: {}", *why);
    return;
  }
  const auto& a = pl_.adopt_stats();
  if (a.adopted + a.forbidden + a.refused + a.expired + a.waiting == 0) return;
  spdlog::info("connections: {}, {} waiting for their vif", firewall::summary(a), a.waiting);
}

StateKeeper::~StateKeeper() {
  {
    std::lock_guard lock(m_);
    stop_ = true;
  }
  cv_.notify_all();
  if (writer_.joinable()) writer_.join();
}

void StateKeeper::save(int64_t now) {
  {
    std::lock_guard lock(m_);
    if (busy_ || next_) {
      ++skipped_;
      return;
    }
    next_.emplace(pl_.save(now), now);
  }
  if (!writer_.joinable()) writer_ = std::thread([this] { run(); });
  cv_.notify_all();
}

void StateKeeper::save_now(int64_t now) {
  firewall::SavedState s = pl_.save(now);
  std::unique_lock lock(m_);
  cv_.wait(lock, [&] { return !busy_ && !next_; });
  busy_ = true;
  lock.unlock();
  write(s, now);
  lock.lock();
  busy_ = false;
}

void StateKeeper::run() {
  std::unique_lock lock(m_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || next_; });
    if (!next_) return;  // stopping, nothing left to write
    auto [s, now] = std::move(*next_);
    next_.reset();
    busy_ = true;
    lock.unlock();
    write(s, now);
    lock.lock();
    busy_ = false;
    cv_.notify_all();
  }
}

void StateKeeper::write(const firewall::SavedState& s, int64_t now) {
  const std::string file = encode_state(s, boot_, now);
  const std::string_view payload = state_payload(file);
  if (written_ && payload == last_payload_) return;
  if (auto e = replace_file(path_, file, false)) {
    if (*e != last_error_) spdlog::warn("connections: not saved: {}", *e);
    last_error_ = *e;
    return;
  }
  if (!last_error_.empty()) spdlog::info("connections: saved again in {}", path_);
  last_error_.clear();
  last_payload_.assign(payload);
  written_ = true;
}

}  // namespace xfw::daemon
