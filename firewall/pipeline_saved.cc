// firewall/pipeline_saved.cc — Pipeline's state across a restart of xfwd: what save() gives,
// and how restore() + adopt_saved() take it back (firewall/saved_state.h).
#include <unordered_map>

#include "firewall/pipeline.h"

namespace xfw::firewall {
namespace {

template <class A>
std::string str(const std::optional<A>& a) {
  return a ? a->str() : "-";
}

template <class List>
std::string join(const List& l) {
  std::string out;
  for (const auto& a : l) {
    if (!out.empty()) out += ',';
    out += a.str();
  }
  return out.empty() ? "-" : out;
}

}  // namespace

std::string summary(const AdoptStats& now, const AdoptStats& before) {
  return std::to_string(now.adopted - before.adopted) + " adopted, " + std::to_string(now.forbidden - before.forbidden) +
         " cut by the rules, " + std::to_string(now.refused - before.refused) + " over a limit or taken, " +
         std::to_string(now.expired - before.expired) + " expired";
}

std::string Pipeline::state_identity() const {
  return "uplink=" + str(cfg_.uplink_addr) + " gateway=" + str(cfg_.uplink_gateway) +
         " uplink6=" + str(cfg_.uplink_addr6) + " gateway6=" + str(cfg_.uplink_gateway6) +
         " ports=" + std::to_string(cfg_.limits.port_lo) + "-" + std::to_string(cfg_.limits.port_hi) +
         " dns=" + join(cfg_.dns_virtual) + " resolvers=" + join(cfg_.resolvers);
}

SavedState Pipeline::save(int64_t now) const {
  SavedState s;
  s.identity = state_identity();
  s.gateway_mac = gateway_mac_;
  s.gateway6_mac = gateway6_mac_;
  s.gateway_heard = gateway_heard_;
  // The fragment bindings name flows by id: where each of those flows lands in s.flows.
  std::vector<nat::Fragments::Entry> frags[2];
  for (const bool from_uplink : {false, true})
    (from_uplink ? frags_in_ : frags_out_).for_each(now, [&](const nat::Fragments::Entry& e) { frags[from_uplink].push_back(e); });
  std::vector<uint32_t> index;
  if (!frags[0].empty() || !frags[1].empty()) index.assign(ct_.capacity(), nat::ConnTrack::kNone);
  s.flows.reserve(ct_.size());
  ct_.for_each([&](uint32_t id, const nat::Flow& f) {
    if (f.expires <= now || f.vif_slot >= clients_.size() || !clients_[f.vif_slot]) return;
    const Client& c = *clients_[f.vif_slot];
    if (!index.empty()) index[id] = uint32_t(s.flows.size());
    s.flows.push_back(SavedFlow{nat::portable(f), c.domid, c.devid});
  });
  if (saved_) {  // a previous xfwd's, still waiting for their vif
    for (std::size_t i = 0; i < saved_->flows.size(); ++i)
      if (!saved_done_[i] && saved_->flows[i].flow.expires > now) s.flows.push_back(saved_->flows[i]);
  }
  for (const bool from_uplink : {false, true}) {
    for (nat::Fragments::Entry e : frags[from_uplink]) {
      if (e.flow >= index.size() || index[e.flow] == nat::ConnTrack::kNone) continue;
      e.flow = index[e.flow];
      s.fragments.push_back(SavedFragment{from_uplink, e});
    }
  }
  s.hosts = resolver_.known();
  return s;
}

void Pipeline::restore(SavedState s) {
  saved_done_.assign(s.flows.size(), false);
  saved_ = std::move(s);
  adopting_ = false;
  adopt_stats_ = AdoptStats{};
}

std::optional<std::string> Pipeline::adopt_saved(int64_t now) {
  if (!saved_) return std::nullopt;
  if (saved_->identity != state_identity()) {
    std::string why = "written for " + saved_->identity + ", now " + state_identity();
    saved_.reset();
    return why;
  }
  if (!gateway_mac_ && saved_->gateway_mac) {
    gateway_mac_ = saved_->gateway_mac;
    gateway_heard_ = saved_->gateway_heard;
  }
  if (!gateway6_mac_ && saved_->gateway6_mac) gateway6_mac_ = saved_->gateway6_mac;
  for (const auto& h : saved_->hosts)  // names the rules no longer use are not taken back
    if (resolver_.restore(h)) set_resolved(h.name, h.addrs);
  adopting_ = true;
  adopt_until_ = now + kAdoptWaitMs;
  adopt_stats_.waiting = saved_->flows.size();
  for (const auto& c : clients_)
    if (c) adopt_for(*c, now);
  return std::nullopt;
}

// The saved connections of client `c`: those of its vif (domain and device) from one of its
// addresses, taken into the table as they were, then checked against the rules of now.
void Pipeline::adopt_for(const Client& c, int64_t now) {
  if (!saved_) return;
  std::unordered_map<uint32_t, uint32_t> ids;  // saved index -> flow id
  for (std::size_t i = 0; i < saved_->flows.size(); ++i) {
    const SavedFlow& s = saved_->flows[i];
    if (saved_done_[i] || s.domid != c.domid || s.devid != c.devid) continue;
    const auto owner = by_addr_.find(s.flow.orig.src.b);
    if (owner == by_addr_.end() || owner->second != c.id.slot) continue;
    saved_done_[i] = true;
    --adopt_stats_.waiting;
    if (s.flow.expires <= now) {
      ++adopt_stats_.expired;
      continue;
    }
    const auto made = ct_.adopt(s.flow, c.id.slot, c.id.gen, now);
    if (!std::holds_alternative<uint32_t>(made)) {
      ++adopt_stats_.refused;
      continue;
    }
    const uint32_t id = std::get<uint32_t>(made);
    if (forbidden(c, ct_.flow(id))) {
      ct_.remove(id);
      ++adopt_stats_.forbidden;
      continue;
    }
    ++adopt_stats_.adopted;
    ids[uint32_t(i)] = id;
  }
  for (const auto& fr : saved_->fragments) {
    const auto it = ids.find(fr.entry.flow);
    if (it == ids.end() || fr.entry.expires <= now) continue;
    nat::Fragments::Entry e = fr.entry;
    e.flow = it->second;
    (fr.from_uplink ? frags_in_ : frags_out_).put(e);
  }
  if (adopt_stats_.waiting == 0) {
    adopting_ = false;
    saved_.reset();
  }
}

}  // namespace xfw::firewall
