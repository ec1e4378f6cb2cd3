// xen/grant.h — grant-table operations netback needs: map a guest's ring page, and grant copy.
//
// Packet data never gets mapped: it is always copied between a guest grant and local memory with
// one batched grant-copy call (NETBACK-HARDENING.md item 4). Only the two ring pages are mapped.
// Every copy segment reports its own status with Xen's GNTST_* values; a failed segment fails
// only the packet it belongs to (item 10).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "xen/types.h"

namespace xfw::xen {

// Values of GNTST_* in xen/grant_table.h.
enum class GntStatus : int16_t {
  okay = 0,
  general_error = -1,
  bad_domain = -2,
  bad_gntref = -3,
  permission_denied = -8,
  bad_page = -9,
  bad_copy_arg = -10,
};

struct GrantCopy {
  enum class Dir : uint8_t { from_guest, to_guest };
  Dir dir = Dir::from_guest;
  DomId dom;           // the granting guest
  GrantRef ref;        // the guest's grant
  uint16_t offset = 0; // within the granted page; offset + len must be <= 4096
  uint16_t len = 0;
  std::byte* local = nullptr;  // our side of the copy
  GntStatus status = GntStatus::general_error;
};

// A mapped foreign page; unmapped when destroyed.
class GrantMapping {
 public:
  virtual ~GrantMapping() = default;
  [[nodiscard]] virtual std::byte* data() const = 0;  // kPageSize bytes, shared with the guest
};

class GrantTable {
 public:
  virtual ~GrantTable() = default;
  // Maps one page granted by `dom` read-write. nullptr on failure (bad ref, wrong grantee...).
  [[nodiscard]] virtual std::unique_ptr<GrantMapping> map(DomId dom, GrantRef ref) = 0;
  // Performs all segments; each gets its own status. Returns false only if the call itself
  // failed (then every status is general_error).
  virtual bool copy(std::span<GrantCopy> ops) = 0;
};

}  // namespace xfw::xen
