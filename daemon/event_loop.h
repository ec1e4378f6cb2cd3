// daemon/event_loop.h — wires Netback into a Boost.Asio event loop.
//
// Two fds (the XenStore watch fd and the event-channel fd) and one timer (Netback's next
// deadline: credit, stall, back-off), plus what the daemon adds: more readable fds (the
// uplink) and periodic jobs (conntrack expiry, ARP). `after_pass` runs after every handler
// (the daemon flushes the uplink's send batch there). After any event, vif passes run one at a time through
// asio::post, so a busy guest never keeps the loop from the other fds (fairness). The fds are
// dup()ed: Asio owns and closes its copies, the Xen libraries keep theirs.
#pragma once

#include <utility>  // before Asio: Boost 1.74 uses std::exchange without including it
#include <boost/asio.hpp>

#include <functional>
#include <memory>
#include <vector>

#include "netback/netback.h"
#include "xen/evtchn.h"
#include "xen/xenstore.h"

namespace xfw::daemon {

// A timer on the data path's clock (netback::Clock, xen/clock.h), which lags the time by up to
// a tick: each wait is a tick longer, so that now() has reached the deadline when it fires
// (without it, Asio woke up and waited again, for the same small remainder, until the tick).
struct CoarseWaitTraits {
  using Clock = netback::Clock;
  static Clock::duration to_wait_duration(const Clock::duration& d) {
    return d > Clock::duration::zero() ? d + Clock::resolution() : d;
  }
  static Clock::duration to_wait_duration(const Clock::time_point& t) { return to_wait_duration(t - Clock::now()); }
};
using DeadlineTimer = boost::asio::basic_waitable_timer<netback::Clock, CoarseWaitTraits>;

class EventLoop {
 public:
  EventLoop(boost::asio::io_context& io, xen::XenStore& xs, xen::EventChannels& evt,
            netback::Netback& nb);
  void start();  // after nb.start()
  void stop();
  // Calls on_ready whenever fd is readable (fd is dup()ed). Call before start().
  void add_reader(int fd, std::function<void()> on_ready);
  void add_periodic(std::chrono::milliseconds every, std::function<void()> job);
  // A timer of one more source (the netfront uplink): `fire` runs at `next()`, which is asked
  // again after every handler. Call before start().
  void add_deadline(std::function<std::optional<netback::TimePoint>()> next, std::function<void()> fire);
  // Runs `f` on a later turn of the loop (a source with more work than one pass), then the
  // usual after-work steps.
  void post(std::function<void()> f);
  void set_after_pass(std::function<void()> f) { after_pass_ = std::move(f); }
  // Netback may have new work (frames queued for guests from elsewhere).
  void kick() { after_work(); }

 private:
  using Handler = void (netback::Netback::*)(netback::TimePoint);
  void wait(boost::asio::posix::stream_descriptor& fd, Handler on_ready);
  void after_work();
  void arm_timer();
  static netback::TimePoint now() { return netback::Clock::now(); }

  boost::asio::io_context& io_;
  netback::Netback& nb_;
  boost::asio::posix::stream_descriptor xs_fd_, evt_fd_;
  DeadlineTimer timer_;
  std::optional<netback::TimePoint> timer_armed_;  // what timer_ waits for (re-armed only when it moves)
  bool poll_posted_ = false;
  bool stopped_ = false;
  struct Reader {
    boost::asio::posix::stream_descriptor fd;
    std::function<void()> on_ready;
  };
  struct Periodic {
    boost::asio::steady_timer timer;
    std::chrono::milliseconds every;
    std::function<void()> job;
  };
  void wait_reader(Reader& r);
  void arm_periodic(Periodic& p);
  struct Deadline {
    DeadlineTimer timer;
    std::function<std::optional<netback::TimePoint>()> next;
    std::function<void()> fire;
    std::optional<netback::TimePoint> armed;
  };
  void arm_deadline(Deadline& d);
  std::vector<std::unique_ptr<Deadline>> deadlines_;
  std::vector<std::unique_ptr<Reader>> readers_;
  std::vector<std::unique_ptr<Periodic>> periodic_;
  std::function<void()> after_pass_;
};

}  // namespace xfw::daemon
