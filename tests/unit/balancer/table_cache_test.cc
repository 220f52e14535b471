#include "lb/balancer/table_cache.h"

#include <gtest/gtest.h>

namespace lb::balancer {
namespace {

using config::balancer_kind;

TEST(table_cache, the_same_endpoints_get_the_same_tables) {
  table_cache c;
  const auto a = c.get("p", balancer_kind::maglev, {1, 1}, {"10.0.0.1:80", "10.0.0.2:80"});
  const auto b = c.get("p", balancer_kind::maglev, {1, 1}, {"10.0.0.1:80", "10.0.0.2:80"});
  EXPECT_EQ(a, b);
}

TEST(table_cache, a_change_of_endpoint_weight_or_kind_builds_anew) {
  table_cache c;
  const auto a = c.get("p", balancer_kind::maglev, {1, 1}, {"10.0.0.1:80", "10.0.0.2:80"});
  const auto moved = c.get("p", balancer_kind::maglev, {1, 1}, {"10.0.0.1:80", "10.0.0.3:80"});
  EXPECT_NE(a, moved);
  const auto weighed = c.get("p", balancer_kind::maglev, {1, 2}, {"10.0.0.1:80", "10.0.0.3:80"});
  EXPECT_NE(moved, weighed);
  const auto ring = c.get("p", balancer_kind::ring_hash, {1, 2}, {"10.0.0.1:80", "10.0.0.3:80"});
  EXPECT_NE(weighed, ring);
  EXPECT_EQ(ring->kind(), balancer_kind::ring_hash);
}

TEST(table_cache, pools_are_kept_apart_and_unused_ones_forgotten) {
  table_cache c;
  const auto p = c.get("p", balancer_kind::maglev, {1}, {"10.0.0.1:80"});
  const auto q = c.get("q", balancer_kind::maglev, {1}, {"10.0.0.1:80"});
  EXPECT_NE(p, q);
  c.retain_only_used();
  EXPECT_EQ(c.size(), 2u);
  EXPECT_EQ(c.get("p", balancer_kind::maglev, {1}, {"10.0.0.1:80"}), p);
  c.retain_only_used();  // q was not asked for since the last call
  EXPECT_EQ(c.size(), 1u);
  EXPECT_NE(c.get("q", balancer_kind::maglev, {1}, {"10.0.0.1:80"}), q);
}

TEST(table_cache, a_bad_set_throws_and_keeps_the_last_good_one) {
  table_cache c;
  const auto p = c.get("p", balancer_kind::maglev, {1}, {"10.0.0.1:80"});
  EXPECT_THROW(c.get("p", balancer_kind::maglev, {1, 1}, {"10.0.0.1:80"}), std::invalid_argument);
  EXPECT_EQ(c.get("p", balancer_kind::maglev, {1}, {"10.0.0.1:80"}), p);
}

}  // namespace
}  // namespace lb::balancer
