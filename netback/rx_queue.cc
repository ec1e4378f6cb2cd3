#include "netback/rx_queue.h"

#include <cstring>

namespace xfw::netback {

RxQueue::RxQueue(uint32_t capacity_bytes)
    : buf_(new std::byte[capacity_bytes]), cap_(capacity_bytes) {}

bool RxQueue::push(std::span<const std::byte> frame, Gso gso) {
  const auto len = uint32_t(frame.size());
  if (frame.size() > cap_ || count_ == kMaxFrames || len == 0) return false;
  uint32_t off;
  if (count_ == 0) {
    head_ = tail_ = 0;
    wrapped_ = false;
  }
  if (!wrapped_) {
    if (cap_ - tail_ >= len) {
      off = tail_;
    } else if (head_ >= len) {
      off = 0;
      wrapped_ = true;
    } else {
      return false;
    }
  } else {
    if (head_ - tail_ < len) return false;
    off = tail_;
  }
  std::memcpy(buf_.get() + off, frame.data(), len);
  desc_[(first_ + count_) % kMaxFrames] = {off, len, gso};
  ++count_;
  bytes_ += len;
  tail_ = off + len;
  return true;
}

std::span<const std::byte> RxQueue::at(uint32_t i) const {
  const Desc& d = desc_[(first_ + i) % kMaxFrames];
  return {buf_.get() + d.off, d.len};
}

void RxQueue::pop() {
  if (count_ == 0) return;
  bytes_ -= desc_[first_].len;
  first_ = (first_ + 1) % kMaxFrames;
  if (--count_ == 0) {
    head_ = tail_ = 0;
    wrapped_ = false;
    return;
  }
  const uint32_t next = desc_[first_].off;
  if (wrapped_ && next < head_) wrapped_ = false;  // the oldest frame is now the wrapped part
  head_ = next;
}

void RxQueue::clear() {
  while (count_ > 0) pop();
}

}  // namespace xfw::netback
