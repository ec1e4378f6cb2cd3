// daemon/capture.h — `xfwctl capture`: copies of the frames of a VM, of the uplink, or of the
// drops, filtered by a BPF program and streamed to the control connection that asked.
//
// The dataplane shows every frame to frame() at one of its taps (Tap below); with no capture
// running that is one test of an empty list and nothing else. A capture takes:
//   a VM (by name or address)    what it sends, as it sent it, and what it receives, as it
//                                gets it (kernel netback's `tcpdump -i vifN.0`);
//   the same with after_nat      its frames as they leave on the uplink, and the uplink's
//                                frames forwarded to it as they were read (NATed addresses);
//   "uplink"                     every frame read from the uplink and sent to it;
//   drops                        every dropped frame (of one VM, of the uplink, or all).
// The filter is classic BPF, what tcpdump's expressions compile to: xfwctl compiles the
// expression with libpcap, xfwd checks the program with libpcap's bpf_validate and runs it
// with bpf_filter. A frame that passes is queued to the reader only if its backlog has room
// (ControlServer::kMaxBacklog); otherwise it is counted as lost: forwarding never waits for a
// reader. The capture ends after `count` frames, when its reader ends it, or when xfwd
// stops; its last line says how many frames matched, were sent and were lost.
#pragma once

#include <pcap/pcap.h>  // and pcap/bpf.h: bpf_insn, bpf_validate, bpf_filter

#include <cstdint>
#include <list>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "daemon/control.h"
#include "netback/frames.h"

namespace xfw::firewall {
class Pipeline;
}

namespace xfw::daemon {

enum class Tap : uint8_t {
  from_vm,            // a frame a VM sent (vif: the VM)
  to_vm,              // a frame delivered to a VM, as delivered
  to_uplink,          // a frame sent on the uplink (vif: the VM it came from, if any)
  from_uplink,        // a frame read from the uplink, every one
  from_uplink_to_vm,  // a frame read from the uplink that went to `vif`, as read
  drop,               // a dropped frame (vif: the VM it came from or was going to, if any)
};

struct CaptureSpec {
  std::string target;      // a VM's name or address, "uplink", or "" (drops only: all of them)
  bool after_nat = false;  // a VM's frames as they are on the uplink
  bool drops = false;
  std::vector<bpf_insn> program;  // empty: every frame
  std::string filter;             // the expression it was compiled from (for the journal)
  uint32_t snaplen = kMaxSnaplen;
  uint64_t count = 0;  // end after so many frames sent (0: until the reader ends it)
  static constexpr uint32_t kMaxSnaplen = 262144;
  static constexpr std::size_t kMaxInsns = 4096;  // Linux's BPF_MAXINSNS
};

// A capture request's fields ("target", "after_nat", "drops", "filter": [[code, jt, jf, k],
// ...], "filter_text", "snaplen", "count"), checked: the spec, or what is wrong with it.
[[nodiscard]] std::variant<CaptureSpec, std::string> capture_spec(const nlohmann::json& req);

// Frame bytes as lower-case hex, as capture events and drop records carry them.
[[nodiscard]] std::string to_hex(std::span<const std::byte> b);

// Where a capture's lines go (ControlServer::Stream in xfwd, a vector in tests).
class CaptureSink {
 public:
  virtual ~CaptureSink() = default;
  [[nodiscard]] virtual std::size_t room() const = 0;  // bytes it takes now (0: gone)
  virtual bool send(std::string line) = 0;             // false: not taken
  virtual void finish(std::string line) = 0;           // the last line; then it is closed
};

class Captures {
 public:
  explicit Captures(const firewall::Pipeline& pl) : pl_(pl) {}
  ~Captures();
  uint64_t add(CaptureSpec spec, std::shared_ptr<CaptureSink> sink);
  // Ends capture `id` (its reader ended it, or xfwd stops): the last line goes to its sink.
  void end(uint64_t id, const char* why);
  void end_all(const char* why);
  [[nodiscard]] bool active() const { return !list_.empty(); }
  [[nodiscard]] std::size_t size() const { return list_.size(); }

  // A frame at a tap; `vif`: the pipeline's id of the VM it belongs to, if any; `reason`: a
  // drop's. Call only when active().
  void frame(Tap tap, std::optional<netback::VifId> vif, std::span<const std::byte> f,
             const char* reason = nullptr);

 private:
  struct Capture {
    uint64_t id;
    CaptureSpec spec;
    std::shared_ptr<CaptureSink> sink;
    bool uplink = false;  // target "uplink"
    uint64_t matched = 0, sent = 0, lost = 0;
  };
  [[nodiscard]] bool wants(const Capture& c, Tap tap, std::optional<netback::VifId> vif) const;
  void finish(std::list<Capture>::iterator it, const char* why);

  const firewall::Pipeline& pl_;
  std::list<Capture> list_;
  uint64_t next_id_ = 1;
};

// ControlServer::Stream as a CaptureSink.
class StreamSink final : public CaptureSink {
 public:
  explicit StreamSink(std::shared_ptr<ControlServer::Stream> s) : s_(std::move(s)) {}
  [[nodiscard]] std::size_t room() const override { return s_->room(); }
  bool send(std::string line) override { return s_->send(std::move(line)); }
  void finish(std::string line) override { s_->finish(std::move(line)); }

 private:
  std::shared_ptr<ControlServer::Stream> s_;
};

}  // namespace xfw::daemon
