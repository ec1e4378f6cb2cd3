// xen/evtchn.h — event channels, as a backend (bind to the guest's port) and as a frontend
// (allocate a port the backend binds to) sees them.
//
// One handle multiplexes every bound port onto one pollable fd. A port that fired is masked
// until unmask() is called: the backend unmasks only after it has done the work (XSA-332).
#pragma once

#include <optional>

#include "xen/types.h"

namespace xfw::xen {

class EventChannels {
 public:
  virtual ~EventChannels() = default;
  [[nodiscard]] virtual std::optional<EvtchnPort> bind_interdomain(DomId remote,
                                                                   EvtchnPort remote_port) = 0;
  // A frontend's port for `remote` to bind to (EVTCHNOP_alloc_unbound); it is written to XenStore.
  [[nodiscard]] virtual std::optional<EvtchnPort> alloc_unbound(DomId remote) = 0;
  virtual bool unbind(EvtchnPort local) = 0;
  virtual bool notify(EvtchnPort local) = 0;
  virtual bool unmask(EvtchnPort local) = 0;
  [[nodiscard]] virtual int fd() const = 0;
  // Next port that fired, or nullopt when none is pending (never blocks). Callers drain it: call
  // it until it returns nullopt.
  [[nodiscard]] virtual std::optional<EvtchnPort> pending() = 0;
};

}  // namespace xfw::xen
