// xen/real/real.h — the real hypervisor: XenStore, grant tables and event channels over
// libxenstore, libxengnttab and libxenevtchn (Debian libxen-dev).
//
// open() opens all three or none (open_frontend(): what a frontend needs besides); on failure `err` names the device and the reason, e.g.
// "cannot open /dev/xen/gntdev (libxengnttab): No such file or directory".
#pragma once

#include <memory>
#include <string>

#include "xen/evtchn.h"
#include "xen/gntshr.h"
#include "xen/grant.h"
#include "xen/xenstore.h"

namespace xfw::xen::real {

struct Handles {
  std::unique_ptr<XenStore> xs;
  std::unique_ptr<GrantTable> gnt;
  std::unique_ptr<EventChannels> evt;
};

[[nodiscard]] std::optional<Handles> open(std::string* err);

// What xfwd's netfront needs, apart from netback's: its own XenStore connection and event
// channel handle (their fds are read apart), and pages to share (/dev/xen/gntalloc).
struct FrontendHandles {
  std::unique_ptr<XenStore> xs;
  std::unique_ptr<GrantShare> share;
  std::unique_ptr<EventChannels> evt;
};

[[nodiscard]] std::optional<FrontendHandles> open_frontend(std::string* err);

}  // namespace xfw::xen::real
