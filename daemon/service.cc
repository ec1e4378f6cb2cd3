#include "daemon/service.h"

#include <cap-ng.h>
#include <spdlog/sinks/systemd_sink.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <cstdlib>

namespace xfw::daemon {

void notify_ready(const std::string& status) { (void)sd_notifyf(0, "READY=1\nSTATUS=%s", status.c_str()); }
void notify_status(const std::string& status) { (void)sd_notifyf(0, "STATUS=%s", status.c_str()); }
void notify_watchdog() { (void)sd_notify(0, "WATCHDOG=1"); }
void notify_stopping() { (void)sd_notify(0, "STOPPING=1"); }

std::optional<std::chrono::microseconds> watchdog_interval() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::microseconds(usec);
}

void use_journal() {
  if (std::getenv("JOURNAL_STREAM") == nullptr) return;
  auto sink = std::make_shared<spdlog::sinks::systemd_sink_mt>("xfwd");
  auto logger = std::make_shared<spdlog::logger>("xfwd", sink);
  logger->set_level(spdlog::default_logger()->level());
  spdlog::set_default_logger(logger);
}

bool drop_capabilities(std::string* err) {
  // The bounding set can only be emptied with CAP_SETPCAP, which xfwd.service does not grant
  // (its CapabilityBoundingSet is already just CAP_NET_RAW CAP_NET_ADMIN, and NoNewPrivileges
  // keeps them from coming back); asking libcap-ng for it anyway makes it log a failure.
  capng_get_caps_process();
  const bool bounding = capng_have_capability(CAPNG_EFFECTIVE, CAP_SETPCAP) != 0;
  const capng_select_t what = bounding ? CAPNG_SELECT_BOTH : CAPNG_SELECT_CAPS;
  capng_clear(what);
  if (capng_apply(what) == 0) return true;
  *err = "cannot drop capabilities";
  return false;
}

}  // namespace xfw::daemon
