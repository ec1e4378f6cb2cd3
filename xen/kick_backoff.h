// xen/kick_backoff.h — when to unmask an event channel the other end may be flooding.
//
// Both ends (netback toward guests, netfront toward sys-net) unmask a fired port only once
// their pass left no work (XSA-332). A streak of kicks that brought no work is an event storm
// (XSA-391): the port then stays masked for a back-off that doubles from 1 ms up to 256 ms and
// ends with the first kick that brings work.
//   bool spurious = kb.after_pass(kicked, handled, more, now);
//   if (!more && masked && kb.may_unmask(now)) unmask();
//   wake up at kb.unmask_at() to unmask a port kept masked.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>

#include "xen/clock.h"

namespace xfw::xen {

class KickBackoff {
 public:
  using TimePoint = CoarseClock::time_point;

  // Records one pass; true if it was a spurious kick.
  bool after_pass(bool kicked, uint32_t handled, bool more, TimePoint now) {
    bool spurious = false;
    if (kicked && handled == 0 && !more) {
      spurious = true;
      if (++streak_ > kStreak) {
        backoff_ = std::min(std::max(backoff_ * 2, std::chrono::milliseconds(1)), kMax);
        unmask_at_ = now + backoff_;
      }
    } else if (handled > 0) {
      streak_ = 0;
      backoff_ = std::chrono::milliseconds(0);
      unmask_at_.reset();
    }
    return spurious;
  }
  [[nodiscard]] bool may_unmask(TimePoint now) {
    if (unmask_at_ && now >= *unmask_at_) unmask_at_.reset();
    return !unmask_at_;
  }
  [[nodiscard]] std::optional<TimePoint> unmask_at() const { return unmask_at_; }

 private:
  static constexpr uint32_t kStreak = 8;
  static constexpr std::chrono::milliseconds kMax{256};
  uint32_t streak_ = 0;
  std::chrono::milliseconds backoff_{0};
  std::optional<TimePoint> unmask_at_;
};

}  // namespace xfw::xen
