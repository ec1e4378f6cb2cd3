// xen/sim/toolstack.h — what libxl does in XenStore for a domain and its vifs, for tests.
//
// create_domain(): /local/domain/<d> (owned by dom0, readable by d) with `name`, `domid`, and
//   `device/` writable by d.
// add_vif(): in one transaction, the frontend dir /local/domain/<fe>/device/vif/<n> (owned by
//   fe, readable by the backend) and the backend dir /local/domain/<be>/backend/vif/<fe>/<n>
//   (owned by the backend, readable by fe) with the keys of NETBACK-HARDENING.md "handshake".
// remove_vif(): online=0 and state=5 in the backend dir (libxl's device remove); then, once the
//   backend reports Closed, forget_vif() removes both directories.
#pragma once

#include <optional>
#include <string>

#include "xen/sim/hypervisor.h"

namespace xfw::xen::sim {

struct SimVifSpec {
  DomId backend{1};
  DomId frontend{2};
  uint32_t devid = 0;
  std::string mac = "00:16:3e:5e:6c:00";  // every Qubes VM uses this MAC
  std::string ip = "10.137.0.2";
  std::optional<std::string> rate;
};

class SimToolstack {
 public:
  explicit SimToolstack(SimHypervisor& hv) : hv_(hv), xs_(hv, DomId{0}) {}

  void create_domain(DomId d, const std::string& name);
  void add_vif(const SimVifSpec& spec);
  void remove_vif(DomId backend, DomId frontend, uint32_t devid);
  void forget_vif(DomId backend, DomId frontend, uint32_t devid);
  // Domain death: revoke its grants and ports, remove its XenStore directories and its vifs.
  void destroy_domain(DomId d, DomId backend);

  static std::string backend_path(DomId be, DomId fe, uint32_t devid);
  static std::string frontend_path(DomId fe, uint32_t devid);
  SimXenStore& xs() { return xs_; }

 private:
  void must(bool ok, const std::string& what);
  SimHypervisor& hv_;
  SimXenStore xs_;
};

}  // namespace xfw::xen::sim
