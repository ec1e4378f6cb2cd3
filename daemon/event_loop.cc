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

void EventLoop::start() {
  wait_xenstore();
  wait_events();
  nb_.on_xenstore(now());  // the initial watch event may already be queued
  after_work();
}

void EventLoop::stop() {
  stopped_ = true;
  boost::system::error_code ec;
  xs_fd_.cancel(ec);
  evt_fd_.cancel(ec);
  timer_.cancel();
}

void EventLoop::wait_xenstore() {
  xs_fd_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                    [this](boost::system::error_code ec) {
                      if (ec || stopped_) return;
                      nb_.on_xenstore(now());
                      after_work();
                      wait_xenstore();
                    });
}

void EventLoop::wait_events() {
  evt_fd_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                     [this](boost::system::error_code ec) {
                       if (ec || stopped_) return;
                       nb_.on_events(now());
                       after_work();
                       wait_events();
                     });
}

// One pass over the active vifs per turn of the loop, until none has work left.
void EventLoop::after_work() {
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
}

void EventLoop::arm_timer() {
  const auto deadline = nb_.next_deadline();
  if (!deadline) return;
  timer_.expires_at(*deadline);
  timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopped_) return;
    nb_.on_timer(now());
    after_work();
  });
}

}  // namespace xfw::daemon
