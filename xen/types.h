// xen/types.h — strong types for hypervisor identifiers.
//
// A DomId, GrantRef and EvtchnPort are all small integers in the Xen ABI; mixing them up is a
// classic bug, so each is its own type with no implicit conversion from or to an integer.
// Example: `DomId d{5}; d.value() == 5;` but `DomId d = 5;` does not compile.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>

namespace xfw::xen {

template <class Tag, class Rep>
class StrongInt {
 public:
  using rep = Rep;
  constexpr StrongInt() = default;
  constexpr explicit StrongInt(Rep v) : v_(v) {}
  [[nodiscard]] constexpr Rep value() const { return v_; }
  friend constexpr auto operator<=>(StrongInt, StrongInt) = default;

 private:
  Rep v_{};
};

using DomId = StrongInt<struct DomIdTag, uint16_t>;
using GrantRef = StrongInt<struct GrantRefTag, uint32_t>;
using EvtchnPort = StrongInt<struct EvtchnPortTag, uint32_t>;

// Domain ids at or above DOMID_FIRST_RESERVED (0x7FF0) are special (DOMID_SELF, DOMID_IO, ...)
// and never name a guest.
inline constexpr uint16_t kDomIdFirstReserved = 0x7FF0;
inline constexpr std::size_t kPageSize = 4096;

}  // namespace xfw::xen

template <class Tag, class Rep>
struct std::hash<xfw::xen::StrongInt<Tag, Rep>> {
  std::size_t operator()(xfw::xen::StrongInt<Tag, Rep> v) const noexcept {
    return std::hash<Rep>{}(v.value());
  }
};
