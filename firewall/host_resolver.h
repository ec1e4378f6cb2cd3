// firewall/host_resolver.h — keeps the addresses of `dsthost=` names fresh (QUBES-SEMANTICS.md
// complains that Qubes resolves them once; here they follow the records' TTL).
//
// Pure: the pipeline sends the queries due() returns from its own uplink address, and hands
// responses back to on_response(). For each name an A and an AAAA query, each with a random
// id and a random source port in [kPortLo, 65535] (outside the NAT port range), to the
// resolvers in turn. A response must come from the server the query went to, to the port it
// came from, with the same id and question. TTLs are clamped to [30 s, 1 day]; a name that
// does not resolve (NXDOMAIN, no records) is asked again after 30 s, and rules using it keep
// failing closed. Addresses stay in use while a refresh is under way.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "firewall/dns.h"
#include "firewall/ruleset.h"

namespace xfw::firewall {

class HostResolver {
 public:
  static constexpr uint16_t kPortLo = 61000;
  static constexpr int64_t kTimeoutMs = 2000, kNegativeMs = 30'000;
  static constexpr uint32_t kMinTtl = 30, kMaxTtl = 86'400;

  struct Query {
    std::string name;
    uint16_t qtype = 0, id = 0, sport = 0;
    packet::Ipv4Addr server;
  };

  explicit HostResolver(uint64_t seed) : rng_(seed) {}
  void set_hosts(const std::vector<std::string>& names);
  [[nodiscard]] std::vector<Query> due(int64_t now, const std::vector<packet::Ipv4Addr>& servers);
  // The name whose addresses this response sets, and all its addresses now; nullopt if the
  // response answers nothing we asked.
  std::optional<std::pair<std::string, Resolved>> on_response(const dns::Response& r,
                                                              packet::Ipv4Addr server,
                                                              uint16_t dport, int64_t now);
  [[nodiscard]] static bool is_our_port(uint16_t p) { return p >= kPortLo; }

  // What a restart keeps: each name's addresses and when its records are asked again.
  struct Known {
    std::string name;
    Resolved addrs;
    int64_t refresh_a = 0, refresh_aaaa = 0;
    friend bool operator==(const Known&, const Known&) = default;
  };
  [[nodiscard]] std::vector<Known> known() const;
  // Takes back what known() gave, for a name in use (set_hosts); false if it is not.
  bool restore(const Known& k);

 private:
  struct Lookup {  // one record type of one name
    bool in_flight = false;
    uint16_t id = 0, sport = 0;
    packet::Ipv4Addr server;
    int64_t sent = 0;
    int64_t refresh_at = 0;  // when to ask again (0: now)
    std::size_t next_server = 0;
  };
  struct Host {
    Lookup a, aaaa;
    Resolved addrs;
  };
  std::map<std::string, Host> hosts_;
  std::mt19937_64 rng_;
};

}  // namespace xfw::firewall
