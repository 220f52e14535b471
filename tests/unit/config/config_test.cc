#include "lb/config/config.h"

#include <gtest/gtest.h>

namespace lb::config {
namespace {

TEST(address, str_round_trips_both_families) {
  EXPECT_EQ((address{"127.0.0.1", 8080, false}).str(), "127.0.0.1:8080");
  EXPECT_EQ((address{"::1", 9901, false}).str(), "[::1]:9901");
  EXPECT_EQ((address{"app.internal", 0, true}).str(), "app.internal:0");
}

TEST(balancer, names_round_trip) {
  const auto names = balancer_names();
  ASSERT_EQ(names.size(), 7u);
  EXPECT_EQ(names.front(), "round_robin");
  for (auto name : names) {
    const auto kind = balancer_from_name(name);
    ASSERT_TRUE(kind) << name;
    EXPECT_EQ(balancer_name(*kind), name);
  }
  EXPECT_EQ(balancer_from_name("Round_Robin"), std::nullopt);
  EXPECT_EQ(balancer_from_name(""), std::nullopt);
}

}  // namespace
}  // namespace lb::config
