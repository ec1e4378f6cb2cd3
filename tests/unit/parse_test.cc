// Strict parsing of XenStore values (item 17) and of addresses.
#include <gtest/gtest.h>

#include "xen/parse.h"

namespace xfw::xen {
namespace {

TEST(Parse, UnsignedIsStrict) {
  EXPECT_EQ(parse_uint("0", 10), 0u);
  EXPECT_EQ(parse_uint("42", 100), 42u);
  EXPECT_EQ(parse_uint("18446744073709551615", UINT64_MAX), UINT64_MAX);
  for (const char* bad : {"", " 1", "1 ", "+1", "-1", "01", "0x1", "1a", "18446744073709551616",
                          "1\n", "١"}) {
    EXPECT_EQ(parse_uint(bad, UINT64_MAX), std::nullopt) << bad;
  }
  EXPECT_EQ(parse_uint("101", 100), std::nullopt);
  EXPECT_EQ(parse_uint(std::string_view("1\0", 2), 10), std::nullopt);
}

TEST(Parse, DomainsPortsAndRefs) {
  EXPECT_EQ(parse_domid("32751"), DomId{32751});
  EXPECT_EQ(parse_domid("32752"), std::nullopt);  // DOMID_FIRST_RESERVED
  EXPECT_EQ(parse_domid("65535"), std::nullopt);
  EXPECT_EQ(parse_evtchn_port("0"), std::nullopt);
  EXPECT_EQ(parse_evtchn_port("131071"), EvtchnPort{131071});
  EXPECT_EQ(parse_evtchn_port("131072"), std::nullopt);
  EXPECT_EQ(parse_grant_ref("4294967295"), GrantRef{4294967295u});
  EXPECT_EQ(parse_grant_ref("4294967296"), std::nullopt);
  EXPECT_EQ(parse_bool01("1"), true);
  EXPECT_EQ(parse_bool01("0"), false);
  EXPECT_EQ(parse_bool01("true"), std::nullopt);
  EXPECT_EQ(parse_xenbus_state("4"), XenbusState::connected);
  EXPECT_EQ(parse_xenbus_state("9"), std::nullopt);
}

TEST(Parse, Rate) {
  const auto r = parse_rate("10000000,50000");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->bytes, 10000000u);
  EXPECT_EQ(r->usec, 50000u);
  for (const char* bad : {"", ",", "1,", ",1", "0,1", "1,0", "1,2,3", "1 ,2", "1,4294967296"}) {
    EXPECT_EQ(parse_rate(bad), std::nullopt) << bad;
  }
}

TEST(Parse, IpList) {
  const auto l = parse_ip_list("10.137.0.5 fd09:24ef:4179::a89:5");
  ASSERT_TRUE(l);
  ASSERT_EQ(l->v4.size(), 1u);
  ASSERT_EQ(l->v6.size(), 1u);
  EXPECT_EQ(l->v4[0].str(), "10.137.0.5");
  EXPECT_EQ(l->v6[0].str(), "fd09:24ef:4179::a89:5");
  for (const char* bad : {"", " ", "10.137.0.5 ", " 10.137.0.5", "10.137.0.5  10.137.0.6",
                          "10.137.0", "10.137.0.5/32", "host", "1.1.1.1 1.1.1.1 1.1.1.1 1.1.1.1 "
                          "1.1.1.1 1.1.1.1 1.1.1.1 1.1.1.1 1.1.1.1"}) {
    EXPECT_EQ(parse_ip_list(bad), std::nullopt) << bad;
  }
}

TEST(Parse, Mac) {
  EXPECT_EQ(packet::MacAddr::parse("00:16:3E:5e:6c:00")->str(), "00:16:3e:5e:6c:00");
  for (const char* bad : {"", "00:16:3e:5e:6c", "00:16:3e:5e:6c:0g", "00-16-3e-5e-6c-00",
                          "00:16:3e:5e:6c:000"}) {
    EXPECT_EQ(packet::MacAddr::parse(bad), std::nullopt) << bad;
  }
}

}  // namespace
}  // namespace xfw::xen
