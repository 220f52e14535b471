#include "lb/core/ip_text.h"

#include <gtest/gtest.h>

namespace lb {
namespace {

using boost::asio::ip::make_address;

TEST(IpText, FormatsIpv4LikeInetNtop) {
  for (const char* s : {"0.0.0.0", "127.0.0.1", "10.0.0.255", "192.168.100.9", "255.255.255.255", "1.22.103.4"})
    EXPECT_EQ(ip_text(make_address(s)), s);
}

TEST(IpText, FormatsIpv6) {
  EXPECT_EQ(ip_text(make_address("::1")), "::1");
  EXPECT_EQ(ip_text(make_address("2001:db8::8a2e:370:7334")), "2001:db8::8a2e:370:7334");
  EXPECT_EQ(ip_text(make_address("::ffff:10.1.2.3")), "::ffff:10.1.2.3");
}

}  // namespace
}  // namespace lb
