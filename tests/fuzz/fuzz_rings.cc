// Fuzz target: one vif's ring consumer and producer fed arbitrary ring and grant contents.
//
// The input is a sequence of rounds. Each round overwrites part of the tx ring (requests and
// extra-info slots), part of the rx ring, the guest's data pages, moves both req_prod indices
// by fuzzed amounts, queues fuzzed frames towards the guest, and runs one backend pass.
// Grant refs 0..7 in a request are mapped to the guest's real grants so that valid copies
// happen too; other values stay as they are (invalid). Invariants checked after each pass:
// the backend never answers a tx slot the guest did not request (judged while the tx ring's
// indices are the fuzzer's: a guest can overwrite them itself by posting that page as a
// receive buffer).
#include <cstring>

#include "tests/fuzz/reader.h"

#include "tests/support/world.h"

using namespace xfw;

using fuzz::Reader;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  testing::World w;
  w.sink.keep = false;
  w.sink.echo = true;
  xen::sim::SimNetfrontOptions opt;
  auto& fe = w.add_guest(xen::DomId{5}, "fuzz", "10.137.0.5", opt);
  w.settle();
  if (!fe.connected()) __builtin_trap();
  const auto vif = w.vif_id(xen::DomId{5});
  Reader in{data, size};
  uint32_t tx_prod = fe.raw_tx()->req_prod;
  uint32_t rx_prod = fe.raw_rx()->req_prod;
  uint32_t last_rsp = fe.raw_tx()->rsp_prod;

  for (int round = 0; round < 16 && in.n > 0; ++round) {
    const auto op = in.get<uint8_t>();
    // tx slots: up to 32 slots of 12 bytes at the current producer position
    const uint32_t nslots = in.get<uint8_t>() % 33;
    for (uint32_t i = 0; i < nslots; ++i) {
      auto& slot = fe.raw_tx()->ring[(tx_prod + i) % 256];
      const auto raw = in.bytes(sizeof slot);
      std::memcpy(&slot, raw.data(), raw.size());
      if (!(op & 1) && slot.req.gref < 8) slot.req.gref = fe.raw_tx_page_ref(slot.req.gref).value();
    }
    // guest data pages
    const auto fill = in.bytes(in.get<uint8_t>());
    std::memcpy(fe.raw_tx_page(op % 4).bytes, fill.data(), fill.size());
    // indices: mostly sane, sometimes wild
    const auto delta = in.get<uint16_t>();
    tx_prod += (op & 2) ? delta : (nslots ? nslots : delta % 4);
    __atomic_store_n(&fe.raw_tx()->req_prod, tx_prod, __ATOMIC_RELEASE);
    if (op & 4) {
      const auto rdelta = in.get<uint16_t>();
      const auto rslot = in.get<uint8_t>();
      fe.raw_rx()->ring[rslot].req.gref = in.get<uint32_t>();
      fe.raw_rx()->ring[rslot].req.id = in.get<uint16_t>();
      rx_prod += (op & 8) ? rdelta : rdelta % 8;
      __atomic_store_n(&fe.raw_rx()->req_prod, rx_prod, __ATOMIC_RELEASE);
    }
    // frames towards the guest
    const auto nframes = in.get<uint8_t>() % 4;
    for (int f = 0; f < nframes; ++f) {
      const auto len = in.get<uint16_t>();
      std::vector<std::byte> frame(len, std::byte(0x5a));
      w.nb.to_guest(vif, frame);
    }
    if (op & 16) fe.raw_notify();
    w.nb.on_events(w.now);
    w.nb.on_timer(w.now);
    w.nb.poll(w.now);
    if (op & 32) w.advance(std::chrono::milliseconds(in.get<uint16_t>()));
    const auto st = w.status(xen::DomId{5});
    if (!st || !st->connected) break;
    // A guest may post its own tx ring page as a receive buffer: the frame copied into it
    // overwrites its indices (the backend then sees a wild req_prod and disconnects). The
    // ring's indices are then not ours to judge.
    if (fe.raw_tx()->req_prod != tx_prod) break;
    // The backend never answers a slot the guest did not request: rsp_prod moves forward,
    // and never past req_prod.
    const uint32_t rsp = fe.raw_tx()->rsp_prod;
    if (uint32_t(rsp - last_rsp) > uint32_t(tx_prod - last_rsp)) __builtin_trap();
    last_rsp = rsp;
  }
  (void)w.try_settle(2000);
  return 0;
}
