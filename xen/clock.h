// xen/clock.h — the data path's clock: CLOCK_MONOTONIC_COARSE.
//
// The vDSO serves it from its data page whatever the clocksource, where CLOCK_MONOTONIC needs a
// vDSO-capable one: in a Xen PV domain without a stable TSC (the lab's), every
// steady_clock::now() is a system call, a trip through Xen, and the loop read the clock more
// often than it made any other call (scenarios/profile.sh). Its resolution is a tick (4 ms at
// HZ=250), as that of Linux netback's and conntrack's jiffies; the data path's deadlines (kick
// back-off, stall and credit timers, conntrack) are milliseconds to minutes.
#pragma once

#include <time.h>

#include <chrono>
#include <cstdint>

namespace xfw::xen {

struct CoarseClock {
  using rep = int64_t;
  using period = std::nano;
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<CoarseClock>;
  static constexpr bool is_steady = true;
  static time_point now() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return time_point(to_duration(ts));
  }
  // How far now() may lag the time (the tick): a timer for T that should find now() >= T when
  // it fires waits this much longer.
  static duration resolution() noexcept {
    static const duration r = [] {
      timespec ts{};
      ::clock_getres(CLOCK_MONOTONIC_COARSE, &ts);
      return to_duration(ts);
    }();
    return r;
  }

 private:
  static duration to_duration(const timespec& ts) noexcept {
    return duration(int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec);
  }
};

}  // namespace xfw::xen
