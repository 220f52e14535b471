#include "lb/proto/proxy/stage.h"

#include <gtest/gtest.h>

#include "lb/config/parse.h"

namespace lb::proto::proxy {
namespace {

namespace ip = boost::asio::ip;

std::vector<config::cidr> blocks(std::initializer_list<const char*> texts) {
  std::vector<config::cidr> out;
  for (const char* t : texts) out.push_back(*config::parse_cidr(t));
  return out;
}

TEST(proxy_trusted, matches_prefixes_of_both_families) {
  const auto b = blocks({"10.0.0.0/8", "192.0.2.128/25", "2001:db8::/32", "198.51.100.7"});
  EXPECT_TRUE(trusted(b, ip::make_address("10.255.1.2")));
  EXPECT_FALSE(trusted(b, ip::make_address("11.0.0.1")));
  EXPECT_TRUE(trusted(b, ip::make_address("192.0.2.200")));
  EXPECT_FALSE(trusted(b, ip::make_address("192.0.2.127")));
  EXPECT_TRUE(trusted(b, ip::make_address("2001:db8:ffff::1")));
  EXPECT_FALSE(trusted(b, ip::make_address("2001:db9::1")));
  EXPECT_TRUE(trusted(b, ip::make_address("198.51.100.7")));
  EXPECT_FALSE(trusted(b, ip::make_address("198.51.100.8")));
  // An IPv4-mapped IPv6 peer is its IPv4 address.
  EXPECT_TRUE(trusted(b, ip::make_address("::ffff:10.1.1.1")));
  EXPECT_FALSE(trusted({}, ip::make_address("10.1.1.1")));
  EXPECT_TRUE(trusted(blocks({"0.0.0.0/0"}), ip::make_address("203.0.113.1")));
}

}  // namespace
}  // namespace lb::proto::proxy
