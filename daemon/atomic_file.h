// daemon/atomic_file.h — replacing a file so that a crash at any point leaves the old one or
// the new one, never a mix: a temporary file beside it, written whole, renamed over it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace xfw::daemon {

// Writes `data` to PATH.tmp (mode 0640) and renames it to PATH. durable: fsync the file before
// the rename and the directory after it (a file that must survive a power loss; not for /run).
// Returns the error ("PATH.tmp: No space left on device"), or nullopt.
[[nodiscard]] std::optional<std::string> replace_file(const std::string& path, std::string_view data, bool durable);

}  // namespace xfw::daemon
