#include "lb/metrics/counters.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace lb::metrics {
namespace {

TEST(status_counters, registered_codes_count_exactly) {
  status_counters c;
  for (unsigned code : {200u, 200u, 204u, 301u, 404u, 429u, 502u, 503u, 503u, 503u}) c.add(code);
  EXPECT_EQ(c.get(200), 2u);
  EXPECT_EQ(c.get(204), 1u);
  EXPECT_EQ(c.get(301), 1u);
  EXPECT_EQ(c.get(404), 1u);
  EXPECT_EQ(c.get(429), 1u);
  EXPECT_EQ(c.get(502), 1u);
  EXPECT_EQ(c.get(503), 3u);
  EXPECT_EQ(c.get(500), 0u);
}

TEST(status_counters, other_codes_share_their_class_slot) {
  status_counters c;
  c.add(299);
  c.add(250);
  c.add(599);
  c.add(420);
  EXPECT_EQ(c.at(status_counters::slot_of(299)), 2u);
  EXPECT_EQ(status_counters::code_text(status_counters::slot_of(250)), "2xx");
  EXPECT_EQ(status_counters::code_text(status_counters::slot_of(599)), "5xx");
  EXPECT_EQ(status_counters::code_text(status_counters::slot_of(420)), "4xx");
  EXPECT_EQ(c.get(200), 0u);  // not mixed into an exact code
  EXPECT_EQ(status_counters::class_of(status_counters::slot_of(599)), 5u);
}

TEST(status_counters, no_status_and_out_of_range_go_to_slot_zero) {
  status_counters c;
  c.add(0);
  c.add(42);
  c.add(600);
  c.add(999);
  EXPECT_EQ(c.at(0), 4u);
  EXPECT_EQ(status_counters::code_text(0), "0");
  EXPECT_EQ(status_counters::class_of(0), 0u);
}

TEST(status_counters, labels_are_distinct_and_slots_compact) {
  std::set<std::string> labels;
  for (std::size_t s = 0; s < status_counters::slots; ++s) labels.insert(std::string(status_counters::code_text(s)));
  EXPECT_EQ(labels.size(), status_counters::slots);
  for (unsigned code = 100; code < 600; ++code) {
    const auto slot = status_counters::slot_of(code);
    const auto text = status_counters::code_text(slot);
    EXPECT_TRUE(text == std::to_string(code) || (text[0] == char('0' + code / 100) && text.substr(1) == "xx")) << code;
  }
  EXPECT_EQ(sizeof(status_counters), 64u * 8u);
}

TEST(histogram, default_bounds_resolve_1ms_to_10s) {
  const auto& d = bucket_bounds::defaults();
  ASSERT_GE(d.n, 2u);
  EXPECT_LE(d.v[0], 0.001);
  EXPECT_EQ(d.v[d.n - 1], 10.0);
}

TEST(histogram, observes_into_configured_bounds) {
  const auto b = bucket_bounds::of({0.1, 0.3, 1.0});
  histogram h;
  h.use(&b);
  h.observe(0.05);  // le 0.1
  h.observe(0.1);   // le 0.1 (inclusive)
  h.observe(0.2);   // le 0.3
  h.observe(5);     // +Inf
  EXPECT_EQ(h.bounds().n, 3u);
  EXPECT_EQ(h.bucket(0), 2u);
  EXPECT_EQ(h.bucket(1), 1u);
  EXPECT_EQ(h.bucket(2), 0u);
  EXPECT_EQ(h.bucket(3), 1u);
  EXPECT_DOUBLE_EQ(h.sum(), 5.35);
}

TEST(histogram, bounds_compare_by_value_and_cap_at_max) {
  EXPECT_EQ(bucket_bounds::of({0.1, 1}), bucket_bounds::of({0.1, 1}));
  EXPECT_FALSE(bucket_bounds::of({0.1, 1}) == bucket_bounds::of({0.1, 2}));
  std::vector<double> many;
  for (int i = 1; i <= 40; ++i) many.push_back(i);
  EXPECT_EQ(bucket_bounds::of(many).n, bucket_bounds::max);
}

}  // namespace
}  // namespace lb::metrics
