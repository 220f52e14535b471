// decode_top.cc's `limits:` (process-wide: memory_high), through the loader.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "lb/config/loader.h"
#include "load_helpers.h"

namespace lb::config {
namespace {

using test_support::errors_of;
using test_support::minimal;

TEST(decode_top_limits, memory_high_is_off_by_default) {
  const auto r = load_string(minimal, "t.yaml");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.cfg->limits.memory_high, 0u);
}

TEST(decode_top_limits, memory_high_is_read_in_bytes) {
  const auto r = load_string(minimal + "limits:\n  memory_high: 536870912\n", "t.yaml");
  ASSERT_TRUE(r.ok()) << r.errors[0].str();
  EXPECT_EQ(r.cfg->limits.memory_high, 536870912u);
}

TEST(decode_top_limits, bad_values_and_unknown_keys_are_reported_at_file_line_column) {
  const auto bad = errors_of(minimal + "limits:\n  memory_high: 512MB\n");
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0].rfind("t.yaml:10:16: ", 0), 0u) << bad[0];
  const auto unknown = errors_of(minimal + "limits:\n  memory_hgh: 1\n");
  ASSERT_EQ(unknown.size(), 1u);
  EXPECT_EQ(unknown[0].rfind("t.yaml:10:3: ", 0), 0u) << unknown[0];
}

}  // namespace
}  // namespace lb::config
