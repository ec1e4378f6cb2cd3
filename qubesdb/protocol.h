// qubesdb/protocol.h — the QubesDB socket protocol (client side), as Qubes' include/qubesdb.h
// defines it: every message is a 72-byte header followed by data_len bytes of data.
//
//   offset 0   uint8  type        (Msg)
//   offset 1   char   path[64]    NUL-terminated
//   offset 65  3 bytes padding    (the daemon leaves them uninitialised: ignored)
//   offset 68  uint32 data_len    host byte order (both ends are on one machine), <= 3072
//   offset 72  data
//
// The daemon is another program, and in a compromised firewall VM a hostile one: Decoder checks
// every header (a known response type, a terminated path of QubesDB's characters, a bounded
// length, no NUL in the data) and reports the first violation; the caller then drops the
// connection. Nothing it is given can make it read or allocate past those bounds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace xfw::qubesdb {

enum class Msg : uint8_t {
  read = 0, write, multiread, list, rm, watch, unwatch,  // commands
  ok, error_noent, error, resp_read, resp_multiread, resp_list, resp_watch,  // responses
};
[[nodiscard]] const char* name(Msg m);

inline constexpr std::size_t kHeaderSize = 72, kMaxPath = 64, kMaxData = 3072;

struct Message {
  Msg type{};
  std::string path;
  std::string data;
};

// A path QubesDB itself accepts: < 64 characters of [A-Za-z0-9_/.:@-], no leading '-'.
[[nodiscard]] bool valid_path(std::string_view p);

// A command: header plus data. The path must be valid_path() (the caller's own constants).
[[nodiscard]] std::vector<std::byte> encode(Msg type, std::string_view path, std::string_view data = {});

// Cuts a byte stream into messages. feed() appends bytes; next() returns the next complete
// message, nullopt when more bytes are needed, and sets error() on the first malformed one
// (after which it returns nothing).
class Decoder {
 public:
  void feed(std::span<const std::byte> bytes);
  [[nodiscard]] std::optional<Message> next();
  [[nodiscard]] const std::string& error() const { return error_; }

 private:
  std::vector<std::byte> buf_;
  std::size_t pos_ = 0;
  std::string error_;
};

}  // namespace xfw::qubesdb
