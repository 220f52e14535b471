#include "lb/balancer/random.h"

#include <gtest/gtest.h>

#include "tests/unit/balancer/pick_helpers.h"

namespace lb::balancer {
namespace {

using testing::pool_view;

constexpr std::size_t picks = 100000;

TEST(random_balancer, follows_weights) {
  random_balancer b(1);
  const pool_view v({1, 2, 3, 4});
  const auto counts = testing::tally(b, v, picks);
  const auto want = testing::expected_shares(v.weight);
  // Binomial sd at 100k picks is <= 0.16 points; 1 point is > 6 sd.
  for (std::size_t i = 0; i < 4; ++i) EXPECT_NEAR(counts[i] / double(picks), want[i], 0.01) << i;
}

TEST(random_balancer, follows_uneven_weights) {
  random_balancer b(2);
  const pool_view v({1, 1000});
  const auto counts = testing::tally(b, v, picks);
  EXPECT_NEAR(counts[0] / double(picks), 1.0 / 1001, 0.001);
}

TEST(random_balancer, ineligible_never_picked) {
  random_balancer b(3);
  const pool_view v({0, 5, 0, 5});
  const auto counts = testing::tally(b, v, picks);
  EXPECT_EQ(counts[0], 0u);
  EXPECT_EQ(counts[2], 0u);
  EXPECT_NEAR(counts[1] / double(picks), 0.5, 0.01);
}

TEST(random_balancer, none_eligible_is_minus_one) {
  random_balancer b(4);
  EXPECT_EQ(b.pick(pool_view({0, 0}).request()), -1);
  EXPECT_EQ(b.pick(pick_request{}), -1);
}

TEST(random_balancer, same_seed_same_picks) {
  random_balancer a(9), b(9);
  const pool_view v({1, 2, 3, 4, 5});
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(a.pick(v.request()), b.pick(v.request()));
}

}  // namespace
}  // namespace lb::balancer
