// Fuzz target: the Qubes rule parser. Accepted rules print to a canonical form that parses back
// to the same rule; errors point inside the text.
#include <string_view>

#include "firewall/rule.h"

using namespace xfw::firewall;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto r = parse_rule(text);
  if (const auto* e = std::get_if<RuleError>(&r)) {
    if (e->offset > text.size()) __builtin_trap();
    (void)format_error(text, *e);
    return 0;
  }
  const auto again = parse_rule(to_string(std::get<Rule>(r)));
  if (!std::holds_alternative<Rule>(again) || std::get<Rule>(again) != std::get<Rule>(r))
    __builtin_trap();
  return 0;
}
