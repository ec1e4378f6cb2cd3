#include "netback/drop_reason.h"

#include "xen/reason_names.h"

namespace xfw::netback {

XFW_DEFINE_REASON_NAMES(DropReason, XFW_NETBACK_DROP_REASONS)

}  // namespace xfw::netback
