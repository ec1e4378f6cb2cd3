#include "daemon/event_loop.h"

#include <unistd.h>

namespace xfw::daemon {

EventLoop::EventLoop(boost::asio::io_context& io, xen::XenStore& xs, xen::EventChannels& evt,
                     netback::Netback& nb)
    : io_(io),
      nb_(nb),
      xs_fd_(io, ::dup(xs.watch_fd())),
      evt_fd_(io, ::dup(evt.fd())),
      timer_(io) {}

void EventLoop::add_reader(int fd, std::function<void()> on_ready) {
  readers_.push_back(std::make_unique<Reader>(Reader{boost::asio::posix::stream_descriptor(io_, ::dup(fd)), std::move(on_ready)}));
}

void EventLoop::add_periodic(std::chrono::milliseconds every, std::function<void()> job) {
  periodic_.push_back(std::make_unique<Periodic>(Periodic{boost::asio::steady_timer(io_), every, std::move(job)}));
}

void EventLoop::add_deadline(std::function<std::optional<netback::TimePoint>()> next, std::function<void()> fire) {
  deadlines_.push_back(std::make_unique<Deadline>(Deadline{DeadlineTimer(io_), std::move(next), std::move(fire), {}}));
}

void EventLoop::post(std::function<void()> f) {
  boost::asio::post(io_, [this, f = std::move(f)] {
    if (stopped_) return;
    f();
    after_work();
  });
}

// Re-armed only when the deadline moved: most handlers leave it as it was.
void EventLoop::arm_deadline(Deadline& d) {
  const auto t = d.next();
  if (t == d.armed) return;
  d.armed = t;
  if (!t) {
    d.timer.cancel();
    return;
  }
  d.timer.expires_at(*t);
  d.timer.async_wait([this, &d](boost::system::error_code ec) {
    if (ec || stopped_) return;
    d.armed.reset();
    d.fire();
    after_work();
  });
}

void EventLoop::wait_reader(Reader& r) {
  r.fd.async_wait(boost::asio::posix::stream_descriptor::wait_read, [this, &r](boost::system::error_code ec) {
    if (ec || stopped_) return;
    r.on_ready();
    after_work();
    wait_reader(r);
  });
}

void EventLoop::arm_periodic(Periodic& p) {
  p.timer.expires_after(p.every);
  p.timer.async_wait([this, &p](boost::system::error_code ec) {
    if (ec || stopped_) return;
    p.job();
    after_work();
    arm_periodic(p);
  });
}

void EventLoop::start() {
  wait(xs_fd_, &netback::Netback::on_xenstore);
  wait(evt_fd_, &netback::Netback::on_events);
  for (auto& r : readers_) wait_reader(*r);
  for (auto& p : periodic_) arm_periodic(*p);
  nb_.on_xenstore(now());  // the initial watch event may already be queued
  after_work();
}

void EventLoop::stop() {
  stopped_ = true;
  boost::system::error_code ec;
  xs_fd_.cancel(ec);
  evt_fd_.cancel(ec);
  timer_.cancel();
  for (auto& r : readers_) r->fd.cancel(ec);
  for (auto& p : periodic_) p->timer.cancel();
  for (auto& d : deadlines_) d->timer.cancel();
}

// Waits for `fd` to become readable, lets Netback handle it, and waits again.
void EventLoop::wait(boost::asio::posix::stream_descriptor& fd, Handler on_ready) {
  fd.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                [this, &fd, on_ready](boost::system::error_code ec) {
                  if (ec || stopped_) return;
                  (nb_.*on_ready)(now());
                  after_work();
                  wait(fd, on_ready);
                });
}

// One pass over the active vifs per turn of the loop, until none has work left.
void EventLoop::after_work() {
  if (after_pass_) after_pass_();
  if (!poll_posted_ && nb_.has_work()) {
    poll_posted_ = true;
    boost::asio::post(io_, [this] {
      poll_posted_ = false;
      if (stopped_) return;
      nb_.poll(now());
      after_work();
    });
  }
  arm_timer();
  for (auto& d : deadlines_) arm_deadline(*d);
}

// Re-armed only when netback's deadline moved, as arm_deadline: each re-arm is a timerfd system
// call, and after_work runs after every handler.
void EventLoop::arm_timer() {
  const auto deadline = nb_.next_deadline();
  if (deadline == timer_armed_) return;
  timer_armed_ = deadline;
  if (!deadline) {
    timer_.cancel();
    return;
  }
  timer_.expires_at(*deadline);
  timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopped_) return;
    timer_armed_.reset();
    nb_.on_timer(now());
    after_work();
  });
}

}  // namespace xfw::daemon
