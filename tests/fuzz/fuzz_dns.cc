// Fuzz target: the DNS response parser (responses come from the network to xfwd's resolver).
#include "firewall/dns.h"

using namespace xfw::firewall;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto r = dns::parse_response(std::as_bytes(std::span(data, size)));
  if (!r) return 0;
  if (r->name.size() > 255) __builtin_trap();
  if ((r->v4.size() + r->v6.size()) * 14 > size) __builtin_trap();  // each from a real record
  return 0;
}
