// Fuzz target: xfwd's netfront response consumer fed arbitrary ring and page contents by a
// hostile sys-net backend (NETFRONT-HARDENING.md items 1-5, 7, 11).
//
// The input is a sequence of rounds. Each round writes fuzzed response slots at the rx and tx
// rings' response positions (as data responses, extra-info slots, or raw bytes), fuzzed bytes
// into the receive pages, moves both rsp_prod indices by fuzzed amounts (sometimes far), sends
// a few frames from our side (plain, checksum-offloaded or GSO), kicks, and runs passes.
// Invariants checked after each pass: every frame handed up is 14..65549 bytes; no more tx
// requests outstanding than the ring holds; a reset link comes back after the back-off.
#include <atomic>
#define mb() std::atomic_thread_fence(std::memory_order_seq_cst)
#define rmb() std::atomic_thread_fence(std::memory_order_acquire)
#define wmb() std::atomic_thread_fence(std::memory_order_release)
#include <xen/io/netif.h>

#include <cstring>

#include "tests/fuzz/reader.h"

#include "netfront/netfront.h"
#include "xen/sim/netback.h"
#include "xen/sim/toolstack.h"

using namespace xfw;

using fuzz::Reader;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using xen::DomId;
  xen::sim::SimHypervisor hv;
  xen::sim::SimToolstack ts(hv);
  ts.create_domain(DomId{1}, "sys-net");
  ts.create_domain(DomId{2}, "sys-firewall");
  ts.add_vif({.backend = DomId{1}, .frontend = DomId{2}, .devid = 0, .mac = "00:16:3e:5e:6c:00", .ip = "", .rate = std::nullopt});
  xen::sim::SimNetback be(hv, DomId{1}, DomId{2}, 0, {.auto_tx = false});
  be.step();
  xen::sim::SimXenStore xs(hv, DomId{2});
  xen::sim::SimGrantShare share(hv, DomId{2});
  xen::sim::SimEventChannels evt(hv, DomId{2});
  netfront::Netfront nf(xs, share, evt, {});
  nf.set_receiver([](const netfront::RxFrame& f) {
    if (f.bytes.size() < 14 || f.bytes.size() > netfront::kMaxFrame) __builtin_trap();
  });
  std::string err;
  if (!nf.start(&err)) __builtin_trap();
  auto now = netfront::Clock::now();
  auto pump = [&] {
    for (int i = 0; i < 8; ++i) {
      be.step();
      nf.on_xenstore(now);
      nf.on_events(now);
      for (int k = 0; k < 64 && nf.poll(now); ++k) {
      }
      nf.flush();
      if (nf.link() && nf.link()->tx_outstanding() > netfront::kRingSize) __builtin_trap();
    }
  };
  pump();
  if (!nf.connected()) __builtin_trap();

  Reader in{data, size};
  std::vector<std::byte> bytes(4096);
  for (int round = 0; round < 16 && in.n > 0; ++round) {
    if (!nf.connected()) {  // reset by the last round: back after the back-off
      now += std::chrono::seconds(31);
      nf.on_timer(now);
      pump();
      if (!nf.connected()) __builtin_trap();
    }
    auto& rx = be.raw_rx();
    auto& tx = be.raw_tx();
    // rx responses
    const uint32_t nrx = in.get<uint8_t>() % 24;
    for (uint32_t i = 0; i < nrx; ++i) {
      const uint32_t idx = rx.rsp_prod_pvt + i;
      const auto kind = in.get<uint8_t>();
      netif_rx_response_t r{};
      if (kind % 3 == 0) {  // a plausible data slot: the slot's id
        r.id = uint16_t(idx & 255);
        r.offset = in.get<uint16_t>() % 4200;
        r.flags = in.get<uint8_t>() & 0x0f;
        r.status = int16_t(in.get<uint16_t>() % 4400) - 100;
      } else if (kind % 3 == 1) {  // an extra-info slot
        netif_extra_info_t e{};
        e.type = in.get<uint8_t>() % 6;
        e.flags = in.get<uint8_t>() & 1;
        e.u.gso.size = in.get<uint16_t>();
        e.u.gso.type = in.get<uint8_t>() % 4;
        std::memcpy(&r, &e, sizeof r);
      } else {
        r = in.get<netif_rx_response_t>();
      }
      *RING_GET_RESPONSE(&rx, idx) = r;
      // some bytes in the buffer posted there
      const auto req = *RING_GET_REQUEST(&rx, idx);
      const uint16_t n = in.get<uint8_t>();
      for (uint16_t k = 0; k < n; ++k) bytes[k] = std::byte(in.get<uint8_t>());
      be.raw_write_page(xen::GrantRef{req.gref}, in.get<uint16_t>() % 4000, std::span(bytes).first(n));
    }
    // tx: a few frames from our side, then fuzzed responses
    const uint32_t nsend = in.get<uint8_t>() % 6;
    for (uint32_t i = 0; i < nsend; ++i) {
      const uint32_t len = 14 + in.get<uint16_t>() % 9000;
      std::vector<std::byte> f(len, std::byte{0x5a});
      const auto mode = in.get<uint8_t>() % 3;
      nf.send(f, mode == 0 ? std::nullopt
                           : std::optional(netfront::TxOffload{uint16_t(mode == 2 ? 1400 : 0), false}));
    }
    nf.flush();
    const uint32_t ntx = in.get<uint8_t>() % 24;
    for (uint32_t i = 0; i < ntx; ++i) {
      netif_tx_response_t r{};
      const auto kind = in.get<uint8_t>();
      if (kind & 1) {  // answer a real request
        netif_tx_request_t q;
        std::memcpy(&q, RING_GET_REQUEST(&tx, tx.rsp_prod_pvt + i), sizeof q);
        r.id = q.id;
        r.status = int16_t(int(kind >> 1) % 5 - 2);
      } else {
        r = in.get<netif_tx_response_t>();
      }
      *RING_GET_RESPONSE(&tx, tx.rsp_prod_pvt + i) = r;
    }
    // indices: mostly just past what was written, sometimes anywhere
    const auto how = in.get<uint8_t>();
    rx.rsp_prod_pvt += (how & 1) ? in.get<uint32_t>() : nrx;
    tx.rsp_prod_pvt += (how & 2) ? in.get<uint32_t>() : ntx;
    rx.req_cons = rx.rsp_prod_pvt;
    tx.req_cons = tx.rsp_prod_pvt;
    rx.sring->rsp_prod = rx.rsp_prod_pvt;
    tx.sring->rsp_prod = tx.rsp_prod_pvt;
    if (how & 4) rx.sring->req_event = in.get<uint32_t>();
    const uint32_t kicks = 1 + (in.get<uint8_t>() % 8);
    for (uint32_t k = 0; k < kicks; ++k) be.raw_notify();
    pump();
  }
  return 0;
}
