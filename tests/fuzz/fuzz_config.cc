// Fuzz target: the configuration parser (a user's file): never a crash, and every error names
// something (a key, a line).
#include "daemon/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto r = xfw::daemon::parse_config(text);
  if (const auto* e = std::get_if<xfw::daemon::ConfigError>(&r); e && e->message.empty()) __builtin_trap();
  return 0;
}
