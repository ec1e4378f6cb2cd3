// xen/reason_names.h — name() and describe() for a drop-reason enum made from an X-macro list
// (netback/drop_reason.h, netfront/drop_reason.h): X(name, "what it means").
//   XFW_DEFINE_REASON_NAMES(DropReason, XFW_NETBACK_DROP_REASONS)   // in the .cc, in its namespace
#pragma once

#define XFW_REASON_NAME_CASE(n, text) \
  case E::n:                          \
    return #n;
#define XFW_REASON_TEXT_CASE(n, text) \
  case E::n:                          \
    return text;
#define XFW_DEFINE_REASON_NAMES(Enum, LIST)     \
  const char* name(Enum r) {                    \
    using E = Enum;                             \
    switch (r) {                                \
      LIST(XFW_REASON_NAME_CASE)                \
      case E::count_:                           \
        break;                                  \
    }                                           \
    return "?";                                 \
  }                                             \
  const char* describe(Enum r) {                \
    using E = Enum;                             \
    switch (r) {                                \
      LIST(XFW_REASON_TEXT_CASE)                \
      case E::count_:                           \
        break;                                  \
    }                                           \
    return "?";                                 \
  }
