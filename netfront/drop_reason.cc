#include "netfront/drop_reason.h"

namespace xfw::netfront {

const char* name(DropReason r) {
  switch (r) {
#define XFW_X(n, text) \
  case DropReason::n:  \
    return #n;
    XFW_NETFRONT_DROP_REASONS(XFW_X)
#undef XFW_X
    case DropReason::count_: break;
  }
  return "?";
}

const char* describe(DropReason r) {
  switch (r) {
#define XFW_X(n, text) \
  case DropReason::n:  \
    return text;
    XFW_NETFRONT_DROP_REASONS(XFW_X)
#undef XFW_X
    case DropReason::count_: break;
  }
  return "?";
}

}  // namespace xfw::netfront
