#include "xen/sim/toolstack.h"

#include <stdexcept>

namespace xfw::xen::sim {

void SimToolstack::must(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error("sim toolstack: " + what);
}

std::string SimToolstack::backend_path(DomId be, DomId fe, uint32_t devid) {
  return "/local/domain/" + std::to_string(be.value()) + "/backend/vif/" +
         std::to_string(fe.value()) + "/" + std::to_string(devid);
}

std::string SimToolstack::frontend_path(DomId fe, uint32_t devid) {
  return "/local/domain/" + std::to_string(fe.value()) + "/device/vif/" + std::to_string(devid);
}

void SimToolstack::create_domain(DomId d, const std::string& name) {
  const std::string home = "/local/domain/" + std::to_string(d.value());
  const XsPerm ro[] = {{DomId{0}, XsPermKind::none}, {d, XsPermKind::read}};
  const XsPerm rw[] = {{d, XsPermKind::none}};
  must(xs_.mkdir(kNoTxn, home) && xs_.set_permissions(kNoTxn, home, ro), "home of " + name);
  must(xs_.write(kNoTxn, home + "/name", name), "name");
  must(xs_.write(kNoTxn, home + "/domid", std::to_string(d.value())), "domid");
  for (const char* sub : {"/device", "/data"}) {
    must(xs_.mkdir(kNoTxn, home + sub) && xs_.set_permissions(kNoTxn, home + sub, rw), sub);
  }
}

void SimToolstack::add_vif(const SimVifSpec& s) {
  const std::string be = backend_path(s.backend, s.frontend, s.devid);
  const std::string fe = frontend_path(s.frontend, s.devid);
  const XsPerm fe_perms[] = {{s.frontend, XsPermKind::none}, {s.backend, XsPermKind::read}};
  const XsPerm be_perms[] = {{s.backend, XsPermKind::none}, {s.frontend, XsPermKind::read}};
  for (int attempt = 0; attempt < 16; ++attempt) {
    const auto t = xs_.transaction_start();
    must(t.has_value(), "transaction");
    auto w = [&](const std::string& k, const std::string& v) {
      must(xs_.write(*t, k, v), "write " + k);
    };
    must(xs_.mkdir(*t, fe) && xs_.set_permissions(*t, fe, fe_perms), "frontend dir");
    w(fe + "/backend", be);
    w(fe + "/backend-id", std::to_string(s.backend.value()));
    w(fe + "/state", "1");
    w(fe + "/handle", std::to_string(s.devid));
    w(fe + "/mac", s.mac);
    must(xs_.mkdir(*t, be) && xs_.set_permissions(*t, be, be_perms), "backend dir");
    w(be + "/frontend", fe);
    w(be + "/frontend-id", std::to_string(s.frontend.value()));
    w(be + "/online", "1");
    w(be + "/state", "1");
    w(be + "/script", "/etc/xen/scripts/vif-route-qubes");
    w(be + "/mac", s.mac);
    if (!s.ip.empty()) w(be + "/ip", s.ip);
    w(be + "/handle", std::to_string(s.devid));
    w(be + "/type", "vif");
    if (s.rate) w(be + "/rate", *s.rate);
    const auto end = xs_.transaction_end(*t, true);
    if (end == XsTxnEnd::committed) return;
    must(end == XsTxnEnd::retry, "commit");
  }
  must(false, "add_vif: too many retries");
}

void SimToolstack::remove_vif(DomId backend, DomId frontend, uint32_t devid) {
  const std::string be = backend_path(backend, frontend, devid);
  must(xs_.write(kNoTxn, be + "/online", "0"), "online");
  must(xs_.write(kNoTxn, be + "/state", "5"), "state");
}

void SimToolstack::forget_vif(DomId backend, DomId frontend, uint32_t devid) {
  must(xs_.rm(kNoTxn, backend_path(backend, frontend, devid)), "rm backend");
  must(xs_.rm(kNoTxn, frontend_path(frontend, devid)), "rm frontend");
}

void SimToolstack::destroy_domain(DomId d, DomId backend) {
  hv_.destroy_domain(d);
  must(xs_.rm(kNoTxn, "/local/domain/" + std::to_string(d.value())), "rm home");
  must(xs_.rm(kNoTxn, "/local/domain/" + std::to_string(backend.value()) + "/backend/vif/" +
                          std::to_string(d.value())),
       "rm backend dirs");
}

}  // namespace xfw::xen::sim
