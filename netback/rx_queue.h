// netback/rx_queue.h — bounded FIFO of frames waiting for guest receive buffers.
//
// One contiguous byte buffer, allocated once when the vif connects; frames are stored whole and
// contiguous (a frame that does not fit before the end wraps to offset 0). Bounded both in
// bytes and in frames, so a guest that never posts buffers costs at most `capacity` bytes
// (NETBACK-HARDENING.md item 15). No allocation after construction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "netback/frames.h"

namespace xfw::netback {

class RxQueue {
 public:
  static constexpr uint32_t kMaxFrames = 512;

  explicit RxQueue(uint32_t capacity_bytes);

  // Copies the frame in (with its GSO metadata); false if it does not fit (caller counts the drop).
  [[nodiscard]] bool push(std::span<const std::byte> frame, Gso gso = {});
  [[nodiscard]] Gso gso_at(uint32_t i) const { return desc_[(first_ + i) % kMaxFrames].gso; }
  [[nodiscard]] std::span<const std::byte> front() const { return at(0); }
  [[nodiscard]] std::span<const std::byte> at(uint32_t i) const;  // i-th oldest, i < frames()
  void pop();
  void clear();

  [[nodiscard]] bool empty() const { return count_ == 0; }
  [[nodiscard]] uint32_t frames() const { return count_; }
  [[nodiscard]] uint32_t bytes() const { return bytes_; }

 private:
  struct Desc {
    uint32_t off;
    uint32_t len;
    Gso gso;
  };
  std::unique_ptr<std::byte[]> buf_;  // not zeroed: untouched pages cost no memory
  uint32_t cap_;
  uint32_t head_ = 0;  // offset of the oldest frame
  uint32_t tail_ = 0;  // first free byte after the newest frame
  bool wrapped_ = false;  // live data is [head_, end) + [0, tail_)
  uint32_t first_ = 0;  // index of the oldest descriptor
  uint32_t count_ = 0;
  uint32_t bytes_ = 0;
  Desc desc_[kMaxFrames];
};

}  // namespace xfw::netback
