// daemon/dataplane.h — connects the pieces a frame passes: Netback, the Pipeline, the uplink.
//
// Netback hands every frame a guest sends to from_guest(); the Pipeline decides; what it
// forwards comes back through to_vif() (Netback::to_guest, which queues or grant-copies at
// once) or to_uplink() (batched, sent by flush()). Frames read from the uplink go the other way. The firewall VM's
// own TAP (self_tap.h) is one more client: the pipeline knows it as slot 0, and netback's vif
// slot s as s + 1. Drops are counted per reason, in total and per vif; nothing is logged per
// packet.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "daemon/capture.h"
#include "daemon/self_tap.h"
#include "daemon/uplink.h"
#include "firewall/pipeline.h"
#include "netback/netback.h"
#include "xen/clock.h"

namespace xfw::daemon {

inline constexpr std::size_t kDropReasons =
#define XFW_X(n, t) +1
    0 XFW_FIREWALL_DROP_REASONS(XFW_X);
#undef XFW_X

// One dropped frame, as `xfwctl drops` and `capture --drops` show it. Recorded at most
// kDropLogRate times a second (the counters are always exact).
struct DropRecord {
  uint64_t seq = 0;
  int64_t time_ms = 0;  // wall clock (ms since the epoch)
  std::string vm;       // "" for the uplink
  firewall::DropReason reason{};
  std::string what;     // "tcp 10.137.0.6:40000 -> 192.0.2.1:80"
  uint32_t len = 0;     // the frame's length
  std::vector<std::byte> head;  // its first kSnapLen bytes
};

// The last kSize drops, oldest first. Every record's strings and bytes are reserved up front and
// reused in place, so a full log holds no more heap than an empty one: the soaks, which measure
// xfwd's heap, see leaks and not the log filling up (it did: 6 KiB an AppVM lifecycle, 256 times).
class DropLog {
 public:
  static constexpr std::size_t kSize = 256, kSnapLen = 256, kVmLen = 32, kWhatLen = 128;
  DropLog() : ring_(kSize) {
    for (auto& r : ring_) {
      r.vm.reserve(kVmLen);
      r.what.reserve(kWhatLen);
      r.head.reserve(kSnapLen);
    }
  }
  // The record to fill for a new drop: the oldest one's, once the log is full.
  DropRecord& next() {
    DropRecord& r = ring_[(first_ + n_) % kSize];
    if (n_ < kSize) ++n_;
    else first_ = (first_ + 1) % kSize;
    return r;
  }
  [[nodiscard]] const DropRecord* newest() const { return n_ ? &ring_[(first_ + n_ - 1) % kSize] : nullptr; }
  [[nodiscard]] std::size_t size() const { return n_; }
  template <class F>
  void each(F&& f) const {  // oldest first
    for (std::size_t i = 0; i < n_; ++i) f(ring_[(first_ + i) % kSize]);
  }

 private:
  std::vector<DropRecord> ring_;
  std::size_t first_ = 0, n_ = 0;
};

struct VifStats {
  netback::VifInfo info;
  bool up = false;
  uint64_t forwarded = 0, dropped = 0;
};

class Dataplane final : public netback::FrameSink, public firewall::Egress {
 public:
  Dataplane(firewall::PipelineConfig cfg, uint64_t seed);
  void attach(netback::Netback& nb, Uplink* uplink) {
    nb_ = &nb;
    uplink_ = uplink;
  }
  // The firewall VM's own TAP, as a client with address `addr` (rules keyed "self").
  void attach_self(SelfTap& tap, packet::Ipv4Addr addr);
  void from_self(std::span<std::byte> f);

  // netback::FrameSink
  void vif_up(const netback::VifInfo& v) override;
  void vif_down(netback::VifId v) override;
  void from_guest(netback::VifId v, std::span<std::byte> f, netback::TxFlags fl) override;
  // firewall::Egress
  void to_uplink(std::span<const std::byte> f, uint16_t gso_size) override;
  void to_vif(netback::VifId v, std::span<const std::byte> f) override;

  // A frame the uplink received into its own buffer: rewritten there, as netback's are.
  void from_uplink(std::span<std::byte> f, bool csum_blank, bool csum_valid = false);
  void tick() {
    const bool up = uplink_ && uplink_->up();
    if (up && !uplink_was_up_) pipeline_.uplink_up();
    uplink_was_up_ = up;
    pipeline_.tick(now_ms());
  }
  // After each turn of the loop: the uplink's send batch goes out, and the next frame reads the
  // clock again.
  void flush() {
    if (uplink_) uplink_->flush();
    pass_now_.reset();
  }

  firewall::Pipeline& pipeline() { return pipeline_; }
  Captures& captures() { return captures_; }
  [[nodiscard]] const std::array<uint64_t, kDropReasons>& drops() const { return drops_; }
  [[nodiscard]] const std::vector<VifStats>& vifs() const { return vifs_; }
  [[nodiscard]] uint64_t uplink_forwarded() const { return uplink_forwarded_; }
  [[nodiscard]] UplinkCounters uplink_counters() const { return uplink_ ? uplink_->counters() : UplinkCounters{}; }
  [[nodiscard]] const Uplink* uplink() const { return uplink_; }
  // TCP super-frames (longer than the link's MTU): cut into segments here for a VM that takes
  // no GSO (or the self TAP), passed on whole with GSO metadata to a VM that does, and sent
  // to the uplink whole for the kernel to segment.
  [[nodiscard]] uint64_t segmented() const { return segmented_; }
  [[nodiscard]] uint64_t gso_to_vms() const { return gso_to_vms_; }
  [[nodiscard]] uint64_t gso_to_uplink() const { return gso_to_uplink_; }
  [[nodiscard]] const DropLog& recent_drops() const { return recent_; }
  // What was dropped since the last call, for the journal: "12 drops in the last 10 s:
  // spoofed_source 10, rule 2; last: 10.137.0.6 spoofed_source icmp 10.137.0.99 -> ...", or ""
  // when nothing was. Called from a periodic job, so the log grows by one line an interval at
  // most, however many frames are dropped.
  [[nodiscard]] std::string drop_summary(int seconds);
  // Called for each recorded drop (the control socket streams them to `drops --follow`).
  std::function<void(const DropRecord&)> on_drop;
  static constexpr int kDropLogRate = 100;
  static int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               xen::CoarseClock::now().time_since_epoch()).count();
  }
  // The time frames are judged at: read once per turn of the loop (flush() forgets it), not once
  // per frame. (The clock is the coarse one, xen/clock.h: a read is no system call, even in the
  // lab's PV domains, where steady_clock's were the most frequent call xfwd made.)
  int64_t pass_now() {
    if (!pass_now_) pass_now_ = now_ms();
    return *pass_now_;
  }

 private:
  void count(std::optional<firewall::DropReason> r, VifStats* v, std::span<const std::byte> frame);
  void record(firewall::DropReason r, const VifStats* v, std::span<const std::byte> frame);
  void deliver(netback::VifId v, std::span<const std::byte> f);
  void send_uplink(std::span<const std::byte> f, const std::optional<UplinkOffload>& o = std::nullopt);

  firewall::Pipeline pipeline_;
  Captures captures_{pipeline_};
  // What the pipeline is working on, for the capture taps: the VM whose frame it is, or the
  // frame read from the uplink.
  std::optional<netback::VifId> from_vm_;
  std::span<const std::byte> uplink_frame_;
  std::span<const std::byte> held_frame_;  // the uplink's frame, while it holds its frames
  std::vector<std::byte> uplink_copy_;  // the frame as read, while a capture runs
  netback::Netback* nb_ = nullptr;
  Uplink* uplink_ = nullptr;
  bool uplink_was_up_ = false;
  std::array<uint64_t, kDropReasons> drops_{};
  std::vector<VifStats> vifs_;  // by pipeline slot (netback's + 1; 0: the self TAP)
  SelfTap* self_ = nullptr;
  static constexpr netback::VifId kSelf{0, 1};
  static netback::VifId to_pipeline(netback::VifId v) { return {v.slot + 1, v.gen}; }
  uint64_t uplink_forwarded_ = 0, segmented_ = 0, gso_to_vms_ = 0, gso_to_uplink_ = 0;
  std::optional<int64_t> pass_now_;
  std::array<std::byte, 14 + firewall::kVmMtu> segment_{};
  DropLog recent_;
  std::array<uint64_t, kDropReasons> summarized_{};
  uint64_t drop_seq_ = 0;
  int64_t log_second_ = 0;
  int log_budget_ = 0;
};

}  // namespace xfw::daemon
