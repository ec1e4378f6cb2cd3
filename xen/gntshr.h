// xen/gntshr.h — pages of ours shared with another domain: what a frontend grants its backend.
//
// A frontend (xfwd's netfront toward sys-net) owns its ring pages and its packet buffers and
// grants each to the backend domain (libxengnttab's gntshr, /dev/xen/gntalloc). The backend maps
// or grant-copies them; everything it can reach there is only what it is meant to see
// (NETFRONT-HARDENING.md item 8): pages come zeroed and hold nothing but ring slots and frames.
// Revocation (item 9): destroying SharedPages ends every grant. A grant the backend still has
// mapped cannot be ended; its page is then kept, never reused, until the mapping goes (Linux's
// gntalloc defers it in the kernel; the simulator keeps it and counts it, deferred_pages()).
//   auto pages = share.share(backend, 256, /*writable=*/true);
//   pages->page(i) (4096 bytes), pages->ref(i) (what the backend is told)
#pragma once

#include <cstddef>
#include <memory>

#include "xen/types.h"

namespace xfw::xen {

class SharedPages {
 public:
  virtual ~SharedPages() = default;
  [[nodiscard]] virtual std::size_t count() const = 0;
  [[nodiscard]] virtual std::byte* page(std::size_t i) const = 0;  // kPageSize bytes
  [[nodiscard]] virtual GrantRef ref(std::size_t i) const = 0;
};

class GrantShare {
 public:
  virtual ~GrantShare() = default;
  // `count` zeroed pages granted to `dom`, read-write or read-only; nullptr on failure.
  [[nodiscard]] virtual std::unique_ptr<SharedPages> share(DomId dom, std::size_t count,
                                                           bool writable) = 0;
};

}  // namespace xfw::xen
