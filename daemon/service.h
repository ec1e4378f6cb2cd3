// daemon/service.h — what xfwd does for systemd (systemd/xfwd.service) and for its own safety.
//
//  * notify_ready(): Type=notify — READY=1 once XenStore is watched, the uplink is open and the
//    control socket listens; STATUS= lines say what runs.
//  * watchdog_interval(): WatchdogSec= from the environment; the event loop pings at half of it,
//    so a wedged loop gets the service restarted.
//  * use_journal(): when stderr is the journal (JOURNAL_STREAM), log through the journal with
//    priorities instead of text lines.
//  * drop_capabilities(): after every device and socket is open, xfwd keeps no capability
//    (grant copies, event channels and AF_PACKET I/O work on the open descriptors).
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace xfw::daemon {

void notify_ready(const std::string& status);
void notify_status(const std::string& status);
void notify_watchdog();
void notify_stopping();
[[nodiscard]] std::optional<std::chrono::microseconds> watchdog_interval();
void use_journal();
// false + message if the kernel refused.
[[nodiscard]] bool drop_capabilities(std::string* err);

}  // namespace xfw::daemon
