#include "daemon/capture.h"

#include <algorithm>
#include <chrono>
#include <iterator>

#include "firewall/pipeline.h"

namespace xfw::daemon {

using nlohmann::json;

namespace {
// The instructions libpcap's bpf_filter executes. bpf_validate looks only at the bits each
// class defines, so it passes codes such as 0x1500 (LD|IMM with stray high bits) on which
// bpf_filter calls abort(): found by fuzz_capture. Only these codes are taken.
bool known_code(uint16_t code) {
  static constexpr uint16_t kCodes[] = {
      0x06, 0x16,                                            // ret k, ret a
      0x00, 0x01, 0x20, 0x28, 0x30, 0x40, 0x48, 0x50,        // ld/ldx imm, ld abs w/h/b, ld ind w/h/b
      0x60, 0x61, 0x80, 0x81, 0xb1, 0x02, 0x03,              // ld/ldx mem, len, ldx msh, st, stx
      0x05, 0x15, 0x25, 0x35, 0x45, 0x1d, 0x2d, 0x3d, 0x4d,  // ja; jeq/jgt/jge/jset k and x
      0x04, 0x14, 0x24, 0x34, 0x94, 0x54, 0x44, 0xa4, 0x64, 0x74,  // alu op k
      0x0c, 0x1c, 0x2c, 0x3c, 0x9c, 0x5c, 0x4c, 0xac, 0x6c, 0x7c,  // alu op x
      0x84, 0x07, 0x87,                                      // neg, tax, txa
  };
  return std::find(std::begin(kCodes), std::end(kCodes), code) != std::end(kCodes);
}

// A whole number in 0..max (JSON text gives unsigned numbers, C++ literals signed ones).
bool whole(const json& v, uint64_t max) {
  return v.is_number_unsigned() ? v.get<uint64_t>() <= max : v.is_number_integer() && v.get<int64_t>() >= 0 && uint64_t(v.get<int64_t>()) <= max;
}
}  // namespace

std::variant<CaptureSpec, std::string> capture_spec(const json& req) {
  CaptureSpec s;
  auto text = [&](const char* key, std::string* out) -> bool {
    if (!req.contains(key)) return true;
    if (!req[key].is_string()) return false;
    *out = req[key].get<std::string>();
    return true;
  };
  auto flag = [&](const char* key, bool* out) -> bool {
    if (!req.contains(key)) return true;
    if (!req[key].is_boolean()) return false;
    *out = req[key].get<bool>();
    return true;
  };
  if (!text("target", &s.target) || s.target.size() > 64) return "target: a VM's name or address, or \"uplink\"";
  if (!flag("after_nat", &s.after_nat)) return "after_nat: true or false";
  if (!flag("drops", &s.drops)) return "drops: true or false";
  if (!text("filter_text", &s.filter) || s.filter.size() > 4096) return "filter_text: the expression, at most 4096 bytes";
  if (s.target.empty() && !s.drops) return "capture what? name a VM or \"uplink\", or ask for drops";
  if (s.after_nat && (s.drops || s.target.empty() || s.target == "uplink"))
    return "after NAT: only a VM's frames have a before and an after (the uplink's are after NAT, drops as they came)";
  if (req.contains("snaplen")) {
    const auto& v = req["snaplen"];
    if (!whole(v, CaptureSpec::kMaxSnaplen) || v.get<uint64_t>() < 1)
      return "snaplen: 1.." + std::to_string(CaptureSpec::kMaxSnaplen);
    s.snaplen = v.get<uint32_t>();
  }
  if (req.contains("count")) {
    if (!whole(req["count"], UINT64_MAX)) return "count: a number of frames";
    s.count = req["count"].get<uint64_t>();
  }
  if (req.contains("filter")) {
    const auto& f = req["filter"];
    if (!f.is_array() || f.empty() || f.size() > CaptureSpec::kMaxInsns)
      return "filter: a BPF program of 1.." + std::to_string(CaptureSpec::kMaxInsns) + " instructions";
    for (const auto& i : f) {
      if (!i.is_array() || i.size() != 4 || !whole(i[0], 0xffff) || !whole(i[1], 0xff) || !whole(i[2], 0xff) ||
          !whole(i[3], 0xffffffff))
        return "filter: each instruction is [code, jt, jf, k]";
      s.program.push_back(bpf_insn{i[0].get<uint16_t>(), i[1].get<uint8_t>(), i[2].get<uint8_t>(), i[3].get<uint32_t>()});
      if (!known_code(s.program.back().code)) return "filter: not a valid BPF program";
    }
    // Jumps stay inside the program, every path ends in a return, no division by a constant 0.
    if (!bpf_validate(s.program.data(), int(s.program.size()))) return "filter: not a valid BPF program";
  }
  return s;
}

std::string to_hex(std::span<const std::byte> b) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex(2 * b.size(), '\0');
  for (std::size_t i = 0; i < b.size(); ++i) {
    hex[2 * i] = kHex[uint8_t(b[i]) >> 4];
    hex[2 * i + 1] = kHex[uint8_t(b[i]) & 15];
  }
  return hex;
}

Captures::~Captures() { end_all("xfwd stopped"); }

uint64_t Captures::add(CaptureSpec spec, std::shared_ptr<CaptureSink> sink) {
  const bool uplink = spec.target == "uplink";
  list_.push_back(Capture{next_id_, std::move(spec), std::move(sink), uplink});
  return next_id_++;
}

void Captures::end(uint64_t id, const char* why) {
  for (auto it = list_.begin(); it != list_.end(); ++it)
    if (it->id == id) return finish(it, why);
}

void Captures::end_all(const char* why) {
  while (!list_.empty()) finish(list_.begin(), why);
}

void Captures::finish(std::list<Capture>::iterator it, const char* why) {
  const auto sink = it->sink;
  const json e{{"event", "end"}, {"why", why}, {"matched", it->matched}, {"sent", it->sent}, {"lost", it->lost}};
  list_.erase(it);
  sink->finish(e.dump() + "\n");
}

// The tap first (a comparison), the VM's name last (string comparisons).
bool Captures::wants(const Capture& c, Tap tap, std::optional<netback::VifId> vif) const {
  const CaptureSpec& s = c.spec;
  auto of_target = [&] { return vif && pl_.client_is(*vif, s.target); };
  if (s.drops) return tap == Tap::drop && (s.target.empty() || (c.uplink ? !vif : of_target()));
  if (c.uplink) return tap == Tap::to_uplink || tap == Tap::from_uplink;
  if (s.after_nat) return (tap == Tap::to_uplink || tap == Tap::from_uplink_to_vm) && of_target();
  return (tap == Tap::from_vm || tap == Tap::to_vm) && of_target();
}

void Captures::frame(Tap tap, std::optional<netback::VifId> vif, std::span<const std::byte> f, const char* reason) {
  for (auto it = list_.begin(); it != list_.end();) {
    Capture& c = *it++;
    if (!wants(c, tap, vif)) continue;
    const auto* bytes = reinterpret_cast<const u_char*>(f.data());
    if (!c.spec.program.empty() && bpf_filter(c.spec.program.data(), bytes, u_int(f.size()), u_int(f.size())) == 0)
      continue;
    ++c.matched;
    const std::size_t snap = std::min<std::size_t>(f.size(), c.spec.snaplen);
    // Nothing is encoded for a reader that is behind: a lost frame costs a comparison.
    if (c.sink->room() < 2 * snap + 256) {
      ++c.lost;
      continue;
    }
    std::string hex = to_hex(f.first(snap));
    const char* dir = tap == Tap::drop ? "dropped" : tap == Tap::from_vm || tap == Tap::to_uplink ? "sent" : "received";
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::system_clock::now().time_since_epoch()).count();
    json e{{"event", "frame"}, {"time_us", us}, {"dir", dir}, {"len", f.size()}, {"data", std::move(hex)}};
    if (tap == Tap::drop) e["vm"] = vif ? pl_.vm_of(*vif) : std::string();  // "": the uplink
    if (reason) e["reason"] = reason;
    if (!c.sink->send(e.dump() + "\n")) {
      ++c.lost;
      continue;
    }
    if (++c.sent == c.spec.count) finish(std::prev(it), "count");
  }
}

}  // namespace xfw::daemon
