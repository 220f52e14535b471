#include "lb/config/config.h"

#include <gtest/gtest.h>

#include "lb/config/loader.h"

namespace lb::config {
namespace {

TEST(address, str_round_trips_both_families) {
  EXPECT_EQ((address{"127.0.0.1", 8080, false}).str(), "127.0.0.1:8080");
  EXPECT_EQ((address{"::1", 9901, false}).str(), "[::1]:9901");
  EXPECT_EQ((address{"app.internal", 0, true}).str(), "app.internal:0");
}

TEST(diagnostic, str_is_the_check_format) {
  const diagnostic d{"config/lb.yaml", 12, 7, "unknown key 'foo'"};
  EXPECT_EQ(d.str(), "config/lb.yaml:12:7: unknown key 'foo'");
}

}  // namespace
}  // namespace lb::config
