// packet/describe.h — one line about a frame, for people: the drop log, `xfwctl capture`.
//   "tcp 10.137.0.6:40000 -> 192.0.2.1:80", "udp [fd00::1]:53 -> [fd00::2]:4000",
//   "icmp 10.137.0.6 -> 192.0.2.1 type 8", "arp who-has 10.137.0.1", "ethertype 0x5a5a",
//   "malformed: <why>" (what packet::parse refused)
#pragma once

#include <cstddef>
#include <span>
#include <string>

namespace xfw::packet {

[[nodiscard]] std::string describe(std::span<const std::byte> frame);

}  // namespace xfw::packet
