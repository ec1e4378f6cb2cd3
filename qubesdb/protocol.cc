#include "qubesdb/protocol.h"

#include <cstring>

namespace xfw::qubesdb {

const char* name(Msg m) {
  static constexpr const char* kNames[] = {"read", "write", "multiread", "list", "rm", "watch", "unwatch",
                                           "ok", "error_noent", "error", "resp_read", "resp_multiread",
                                           "resp_list", "resp_watch"};
  const auto i = std::size_t(m);
  return i < std::size(kNames) ? kNames[i] : "unknown";
}

bool valid_path(std::string_view p) {
  if (p.size() >= kMaxPath) return false;
  for (std::size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '/' || c == '.' || c == ':' || c == '@' || (c == '-' && i > 0);
    if (!ok) return false;
  }
  return true;
}

std::vector<std::byte> encode(Msg type, std::string_view path, std::string_view data) {
  std::vector<std::byte> out(kHeaderSize + data.size());
  out[0] = std::byte(type);
  std::memcpy(out.data() + 1, path.data(), std::min(path.size(), kMaxPath - 1));
  const auto len = uint32_t(data.size());
  std::memcpy(out.data() + 68, &len, 4);
  if (!data.empty()) std::memcpy(out.data() + kHeaderSize, data.data(), data.size());
  return out;
}

void Decoder::feed(std::span<const std::byte> bytes) {
  if (!error_.empty()) return;
  buf_.erase(buf_.begin(), buf_.begin() + std::ptrdiff_t(pos_));  // what next() consumed
  pos_ = 0;
  buf_.insert(buf_.end(), bytes.begin(), bytes.end());
}

std::optional<Message> Decoder::next() {
  if (!error_.empty() || buf_.size() - pos_ < kHeaderSize) return std::nullopt;
  const std::byte* h = buf_.data() + pos_;
  const auto type = uint8_t(h[0]);
  uint32_t len = 0;
  std::memcpy(&len, h + 68, 4);
  const char* path = reinterpret_cast<const char*>(h + 1);
  const std::size_t path_len = strnlen(path, kMaxPath);
  if (type < uint8_t(Msg::ok) || type > uint8_t(Msg::resp_watch)) {
    error_ = "message of unknown type " + std::to_string(type);
  } else if (path_len == kMaxPath) {
    error_ = "path not terminated within 64 bytes";
  } else if (!valid_path({path, path_len})) {
    error_ = "path with a character QubesDB does not allow";
  } else if (len > kMaxData) {
    error_ = "data length " + std::to_string(len) + " over " + std::to_string(kMaxData);
  }
  if (!error_.empty()) return std::nullopt;
  if (buf_.size() - pos_ < kHeaderSize + len) {
    buf_.reserve(pos_ + kHeaderSize + len);
    return std::nullopt;
  }
  Message m{Msg(type), std::string(path, path_len),
            std::string(reinterpret_cast<const char*>(h + kHeaderSize), len)};
  if (m.data.find('\0') != std::string::npos) {
    error_ = "NUL byte in the value of " + m.path;
    return std::nullopt;
  }
  pos_ += kHeaderSize + len;
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  }
  return m;
}

}  // namespace xfw::qubesdb
