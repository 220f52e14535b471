#include "lb/config/diagnostic.h"

#include <gtest/gtest.h>

namespace lb::config {
namespace {

TEST(diagnostic, str_is_the_check_format) {
  const diagnostic d{"config/lb.yaml", 12, 7, "unknown key 'foo'"};
  EXPECT_EQ(d.str(), "config/lb.yaml:12:7: unknown key 'foo'");
}

TEST(diagnostic, at_takes_the_position) {
  const auto d = diagnostic::at({"lb.yaml", 3, 5}, "duplicate pool name 'web'");
  EXPECT_EQ(d.str(), "lb.yaml:3:5: duplicate pool name 'web'");
}

}  // namespace
}  // namespace lb::config
