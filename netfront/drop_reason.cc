#include "netfront/drop_reason.h"

#include "xen/reason_names.h"

namespace xfw::netfront {

XFW_DEFINE_REASON_NAMES(DropReason, XFW_NETFRONT_DROP_REASONS)

}  // namespace xfw::netfront
