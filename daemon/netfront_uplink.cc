#include "daemon/netfront_uplink.h"

#include "daemon/event_loop.h"

namespace xfw::daemon {
namespace {
netfront::TimePoint now() { return netfront::Clock::now(); }
}  // namespace

std::unique_ptr<NetfrontUplink> NetfrontUplink::open(Handles h, netfront::NetfrontConfig cfg, std::string* err) {
  std::unique_ptr<NetfrontUplink> u(new NetfrontUplink(std::move(h)));
  u->nf_ = std::make_unique<netfront::Netfront>(*u->h_.xs, *u->h_.share, *u->h_.evt, std::move(cfg));
  if (!u->nf_->start(err)) return nullptr;
  return u;
}

void NetfrontUplink::attach(EventLoop& loop, Receiver rx, std::function<void()> pass_end) {
  nf_->set_receiver([rx = std::move(rx)](const netfront::RxFrame& f) { rx(f.bytes, f.csum_blank, f.data_validated); },
                    std::move(pass_end));
  loop.add_reader(h_.xs->watch_fd(), [this] { nf_->on_xenstore(now()); });
  loop.add_reader(nf_->event_fd(), [this, &loop] {
    nf_->on_events(now());
    pass(loop);
  });
  loop.add_deadline([this] { return nf_->next_deadline(); }, [this, &loop] {
    if (nf_->on_timer(now())) pass(loop);
  });
  // The netfront asks sys-net for no event per answered frame while its ring has room
  // (netfront/tx.cc tx_collect): what is answered is collected here at the latest, within a
  // second, and the stall clock (`xfwctl status`: tx_stalled after 5 s) sees the progress.
  loop.add_periodic(std::chrono::seconds(1), [this, &loop] { pass(loop); });
}

// One bounded pass per turn of the loop, as netback's vifs get: a busy uplink never keeps the
// loop from the vifs and the other fds.
void NetfrontUplink::pass(EventLoop& loop) {
  if (!nf_->poll(now()) || pass_posted_) return;
  pass_posted_ = true;
  loop.post([this, &loop] {
    pass_posted_ = false;
    pass(loop);
  });
}

std::string NetfrontUplink::name() const {
  const auto s = nf_->status(now());
  const auto slash = s.dir.rfind('/');
  return "netfront vif " + (slash == std::string::npos ? std::string("?") : s.dir.substr(slash + 1));
}

UplinkCounters NetfrontUplink::counters() const {
  const auto c = nf_->status(now()).counters;
  UplinkCounters u;
  u.rx_frames = c.rx_frames;
  u.rx_bytes = c.rx_bytes;
  u.tx_frames = c.tx_frames;
  u.tx_bytes = c.tx_bytes;
  u.tx_gso = c.tx_gso;
  for (std::size_t i = 0; i < netfront::kDropReasonCount; ++i) {
    const auto r = netfront::DropReason(i);
    (std::string_view(netfront::name(r)).starts_with("rx_") ? u.rx_truncated : u.tx_errors) += c.drops[i];
  }
  return u;
}

nlohmann::json NetfrontUplink::status() const {
  const auto s = nf_->status(now());
  nlohmann::json drops = nlohmann::json::object();
  for (std::size_t i = 0; i < netfront::kDropReasonCount; ++i)
    if (s.counters.drops[i]) drops[netfront::name(netfront::DropReason(i))] = s.counters.drops[i];
  return {{"kind", "netfront"},
          {"frontend", s.dir},
          {"backend", s.backend},
          {"backend_id", s.backend_id.value()},
          {"state", xen::to_string(s.state)},
          {"backend_state", xen::to_string(s.backend_state)},
          {"connected", s.connected},
          {"tx_stalled", s.tx_stalled},
          {"features", {{"sg", s.features.sg}, {"gso_tcpv4", s.features.gso4}, {"gso_tcpv6", s.features.gso6}}},
          {"connects", s.connects},
          {"resets", s.resets},
          {"last_reset", s.last_reset ? nlohmann::json(netfront::name(*s.last_reset)) : nlohmann::json(nullptr)},
          {"refused", s.refused},
          {"events", s.counters.events},
          {"spurious_events", s.counters.spurious_events},
          {"notifications", s.counters.notifications},
          {"drops", drops}};
}

void NetfrontUplink::send(std::span<const std::byte> frame, const std::optional<UplinkOffload>& offload) {
  std::optional<netfront::TxOffload> o;
  if (offload) o = netfront::TxOffload{offload->gso_size, offload->v6};
  (void)nf_->send(frame, o);
}

}  // namespace xfw::daemon
