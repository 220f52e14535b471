// decode_metrics.cc, read through the whole loader (so the hook into the
// top level is covered too).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "lb/config/loader.h"
#include "load_helpers.h"

namespace lb::config {
namespace {

using test_support::errors_of;
using test_support::minimal;

TEST(decode_metrics, buckets_default_to_half_a_millisecond_through_ten_seconds) {
  const auto r = load_string(minimal, "t.yaml");
  ASSERT_TRUE(r.ok());
  const auto& b = r.cfg->metrics.request_duration_buckets;
  ASSERT_FALSE(b.empty());
  EXPECT_EQ(b.front(), 0.0005);
  EXPECT_EQ(b.back(), 10.0);
}

TEST(decode_metrics, buckets_are_read_in_seconds) {
  const auto r = load_string(minimal + "metrics:\n  request_duration_buckets: [0.005, 0.05, 0.3, 1, 2.5]\n", "t.yaml");
  ASSERT_TRUE(r.ok()) << r.errors[0].str();
  EXPECT_EQ(r.cfg->metrics.request_duration_buckets, (std::vector<double>{0.005, 0.05, 0.3, 1, 2.5}));
}

TEST(decode_metrics, bad_buckets_are_reported_at_file_line_column) {
  EXPECT_EQ(errors_of(minimal + "metrics:\n  request_duration_buckets: [0.1, 0.05]\n"),
            std::vector<std::string>{"t.yaml:10:35: invalid bucket bound: bounds must be strictly ascending"});
  EXPECT_EQ(errors_of(minimal + "metrics:\n  request_duration_buckets: [0.1, 250ms]\n"),
            std::vector<std::string>{
                "t.yaml:10:35: invalid bucket bound: expected a number of seconds greater than 0, like 0.25"});
  EXPECT_EQ(errors_of(minimal + "metrics:\n  request_duration_buckets: [0]\n"),
            std::vector<std::string>{
                "t.yaml:10:30: invalid bucket bound: expected a number of seconds greater than 0, like 0.25"});
  EXPECT_EQ(errors_of(minimal + "metrics:\n  request_duration_buckets: []\n"),
            std::vector<std::string>{"t.yaml:10:29: invalid 'request_duration_buckets': expected a list of 1 to 24 "
                                     "bucket bounds in seconds, like [0.005, 0.05, 0.5]"});
  EXPECT_EQ(errors_of(minimal + "metrics:\n  buckets: [1]\n"),
            std::vector<std::string>{
                "t.yaml:10:3: unknown key 'buckets' in metrics (expected one of: request_duration_buckets)"});
  EXPECT_EQ(errors_of(minimal + "metrics: 3\n"),
            std::vector<std::string>{"t.yaml:9:10: invalid 'metrics': expected a map, got \"3\""});
}

}  // namespace
}  // namespace lb::config
