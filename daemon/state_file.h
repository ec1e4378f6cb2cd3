// daemon/state_file.h — the connection state file: a firewall::SavedState on disk, so that a
// restarted, crashed or upgraded xfwd keeps every connection (docs/restart.md).
//
// xfwd writes it every second (when it changed) and at a clean stop, to PATH.tmp renamed over
// PATH (default /run/xfw/connections, a tmpfs: it never outlives the boot), and reads it once at
// start. A kill at any moment leaves the previous whole file. What it reads is input like any
// other: the file is refused whole, with one reason, unless every check below holds.
//
// Layout, version 1, integers little-endian:
//   header, 56 bytes:
//     0  "XFWSTATE"   8  u32 version   12 u32 CRC-32 of the payload   16 u64 payload length
//     24 boot id (16 bytes, /proc/sys/kernel/random/boot_id)   40 i64 written at (CLOCK_MONOTONIC ms)
//     48 u32 CRC-32 of bytes 0..47   52 u32 zero
//   payload:
//     u16 length + identity text (Pipeline::state_identity(), printable, <= 1024 bytes)
//     u8 gateway MAC present + 6 bytes, i64 last heard, u8 IPv6 gateway MAC present + 6 bytes
//     u32 flows, each 76 bytes: src[16] dst[16] sport dport u8 proto u8 v6, nat_dst[16] u16 nat_port
//        u8 tcp state u8 flags (1 replied, 2 FIN from the client, 4 FIN from the reply)
//        u32 rule i64 expires u16 domid u32 devid
//     u32 fragments, each 26 bytes: u8 direction (0 from a client, 1 from the uplink) src[4] dst[4]
//        u32 id u8 proto u32 flow (index into the flows) i64 expires
//     u32 names, each: u8 length + name, u16 v4 count + 4 bytes each, u16 v6 count + 16 bytes
//        each, i64 refresh A, i64 refresh AAAA
//   and nothing after. Checks: the version, both checksums, the boot, a write time not in the
//   future, the exact length; per record: a known protocol of the right family, IPv4 addresses
//   with zero padding, a valid TCP state (none for other protocols), flags, domain ids below
//   DOMID_FIRST_RESERVED, timers no further ahead than the longest timeout, fragment flows in
//   range, RFC 1123 names, counts within the table's size.
#pragma once

#include <array>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "firewall/pipeline.h"
#include "firewall/saved_state.h"

namespace xfw::daemon {

inline constexpr uint32_t kStateVersion = 1;
inline constexpr std::size_t kStateHeader = 56;
using BootId = std::array<uint8_t, 16>;

// This boot's id (nullopt when /proc does not say).
[[nodiscard]] std::optional<BootId> boot_id();

struct StateCheck {
  BootId boot{};
  int64_t now = 0;            // a file written later than this is refused
  uint32_t max_flows = 0;     // the table's size: more flows than this is not ours
  int64_t max_ahead_ms = 0;   // the longest timeout: a timer further ahead is not ours
};

struct StateRefused {
  std::string why;  // "checksum mismatch", "version 2, this xfwd reads version 1", ...
};

[[nodiscard]] std::string encode_state(const firewall::SavedState& s, const BootId& boot, int64_t written_at);
// A payload behind its header (version, checksums, length, boot, time): what encode_state() ends with.
[[nodiscard]] std::string seal_state(std::string_view payload, const BootId& boot, int64_t written_at);
// The payload alone: what the file carries after its header (to tell whether it changed).
[[nodiscard]] std::string_view state_payload(std::string_view file);
[[nodiscard]] std::variant<firewall::SavedState, StateRefused> decode_state(std::string_view file, const StateCheck& c);

// Reads PATH (at most `max_bytes`): nullopt when there is none.
[[nodiscard]] std::variant<std::optional<std::string>, StateRefused> read_state_file(const std::string& path,
                                                                                      std::size_t max_bytes);

}  // namespace xfw::daemon

namespace xfw::daemon {

// What xfwd does with the file: load() at start hands what a previous xfwd left to the
// pipeline (or logs the one reason it is refused, keeping it as PATH.refused), adopt() once the
// rules are known. save(), every second: the event loop only copies the table out
// (Pipeline::save); a thread of its own encodes and writes it, when it changed, and a save
// that finds the previous one still writing is skipped. save_now() at a clean stop waits for
// the file. The thread starts at the first save(), after xfwd dropped its capabilities.
class StateKeeper {
 public:
  StateKeeper(std::string path, firewall::Pipeline& pl);
  ~StateKeeper();
  void load(int64_t now);
  void adopt(int64_t now);
  void save(int64_t now);
  void save_now(int64_t now);
  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] uint64_t skipped() const { return skipped_; }

 private:
  void write(const firewall::SavedState& s, int64_t now);  // the writer thread (or save_now)
  void run();

  std::string path_;
  firewall::Pipeline& pl_;
  BootId boot_{};
  std::string last_payload_;  // the writer's
  std::string last_error_;
  bool written_ = false;
  std::mutex m_;
  std::condition_variable cv_;
  std::optional<std::pair<firewall::SavedState, int64_t>> next_;  // for the writer
  bool busy_ = false, stop_ = false;
  uint64_t skipped_ = 0;
  std::thread writer_;
};

}  // namespace xfw::daemon
