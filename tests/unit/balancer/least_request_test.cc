#include "lb/balancer/least_request.h"

#include <gtest/gtest.h>

#include "tests/unit/balancer/pick_helpers.h"

namespace lb::balancer {
namespace {

using testing::pool_view;

constexpr std::size_t picks = 100000;

TEST(least_request, idle_pool_follows_weights) {
  least_request_balancer b(1);
  const pool_view v({1, 2, 3, 4});
  const auto counts = testing::tally(b, v, picks);
  const auto want = testing::expected_shares(v.weight);
  // Binomial sd at 100k picks is <= 0.16 points; 1 point is > 6 sd.
  for (std::size_t i = 0; i < 4; ++i) EXPECT_NEAR(counts[i] / double(picks), want[i], 0.01) << i;
}

TEST(least_request, equal_loads_spread_evenly) {
  least_request_balancer b(2);
  const pool_view v({1, 1, 1, 1}, {7, 7, 7, 7});
  const auto counts = testing::tally(b, v, picks);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_NEAR(counts[i] / double(picks), 0.25, 0.01) << i;
}

TEST(least_request, prefers_the_less_loaded) {
  // Endpoint 0 wins every pair it is drawn into: 1 - (3/4)(2/3) = 1/2 of the
  // picks, twice a uniform share; the rest split evenly.
  least_request_balancer b(3);
  const pool_view v({1, 1, 1, 1}, {0, 100, 100, 100});
  const auto counts = testing::tally(b, v, picks);
  EXPECT_NEAR(counts[0] / double(picks), 0.5, 0.01);
  for (std::size_t i = 1; i < 4; ++i) EXPECT_NEAR(counts[i] / double(picks), 1.0 / 6, 0.01) << i;
}

TEST(least_request, load_is_per_unit_of_weight) {
  // 10 in flight on weight 4 (2.5 each) beats 3 on weight 1.
  least_request_balancer b(4);
  const pool_view v({1, 4}, {3, 10});
  const auto counts = testing::tally(b, v, 1000);
  EXPECT_EQ(counts, (std::vector<std::size_t>{0, 1000}));
}

TEST(least_request, single_eligible_is_returned) {
  least_request_balancer b(5);
  const pool_view v({0, 3, 0}, {0, 1000, 0});
  for (int i = 0; i < 100; ++i) EXPECT_EQ(b.pick(v.request()), 1);
}

TEST(least_request, ineligible_never_picked) {
  least_request_balancer b(6);
  const pool_view v({1, 0, 1, 0}, {9, 0, 9, 0});
  const auto counts = testing::tally(b, v, picks);
  EXPECT_EQ(counts[1], 0u);
  EXPECT_EQ(counts[3], 0u);
  EXPECT_NEAR(counts[0] / double(picks), 0.5, 0.01);
}

TEST(least_request, none_eligible_is_minus_one) {
  least_request_balancer b(7);
  EXPECT_EQ(b.pick(pool_view({0, 0, 0}).request()), -1);
  EXPECT_EQ(b.pick(pick_request{}), -1);
}

TEST(least_request, null_load_falls_back_to_weighted_random) {
  least_request_balancer b(8);
  const std::vector<std::uint32_t> w{1, 3};
  std::size_t second = 0;
  for (std::size_t i = 0; i < picks; ++i)
    second += b.pick(pick_request{w.data(), nullptr, w.size(), 0}) == 1;
  EXPECT_NEAR(second / double(picks), 0.75, 0.01);
}

TEST(least_request, same_seed_same_picks) {
  least_request_balancer a(42), b(42), c(43);
  const pool_view v({1, 1, 1, 1, 1, 1, 1, 1});
  int differ = 0;
  for (int i = 0; i < 1000; ++i) {
    const int pa = a.pick(v.request());
    EXPECT_EQ(pa, b.pick(v.request()));
    differ += pa != c.pick(v.request());
  }
  EXPECT_GT(differ, 500);  // seeds (worker ids) 42 and 43 are independent
}

}  // namespace
}  // namespace lb::balancer
