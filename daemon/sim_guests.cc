#include "daemon/sim_guests.h"

namespace xfw::daemon {

SimGuests::SimGuests(boost::asio::io_context& io, xen::sim::SimHypervisor& hv, xen::DomId backend,
                     int n)
    : timer_(io), frame_(64, std::byte{0x5a}) {
  xen::sim::SimToolstack ts(hv);
  for (int i = 0; i < n; ++i) {
    const xen::DomId d{uint16_t(10 + i)};
    ts.create_domain(d, "vm" + std::to_string(i + 1));
    xen::sim::SimVifSpec spec;
    spec.backend = backend;
    spec.frontend = d;
    spec.ip = "10.137.0." + std::to_string(10 + i);
    ts.add_vif(spec);
    fronts_.push_back(std::make_unique<xen::sim::SimNetfront>(hv, d, backend, 0));
  }
}

void SimGuests::start() { tick(); }

std::size_t SimGuests::connected() const {
  std::size_t n = 0;
  for (const auto& f : fronts_) n += f->connected();
  return n;
}

void SimGuests::tick() {
  for (auto& f : fronts_) {
    f->step();
    if (f->connected()) {
      for (int k = 0; k < 4; ++k) (void)f->send(frame_);
    }
  }
  timer_.expires_after(std::chrono::milliseconds(1));
  timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) tick();
  });
}

}  // namespace xfw::daemon
