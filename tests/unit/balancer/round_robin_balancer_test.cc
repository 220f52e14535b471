#include "lb/balancer/round_robin_balancer.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/unit/balancer/pick_helpers.h"

namespace lb::balancer {
namespace {

using testing::pool_view;

std::string sequence(balancer& b, const pool_view& v, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    const int p = b.pick(v.request());
    out += p < 0 ? '-' : static_cast<char>('a' + p);
  }
  return out;
}

TEST(round_robin_balancer, smooth_sequence_for_5_1_1) {
  round_robin_balancer rr(3);
  const pool_view v({5, 1, 1});
  EXPECT_EQ(sequence(rr, v, 7), "aabacaa");
  EXPECT_EQ(sequence(rr, v, 7), "aabacaa");
}

TEST(round_robin_balancer, exact_shares_1_2_3_4) {
  round_robin_balancer rr(4);
  const pool_view v({1, 2, 3, 4});
  const auto counts = testing::tally(rr, v, 100000);
  EXPECT_EQ(counts, (std::vector<std::size_t>{10000, 20000, 30000, 40000}));
}

TEST(round_robin_balancer, follows_effective_weight_changes) {
  // Slow start: b ramps 1 -> 3 while a stays 1. Each window of sum(weights)
  // picks matches the weights of that moment exactly.
  round_robin_balancer rr(2);
  pool_view v({1, 1});
  EXPECT_EQ(sequence(rr, v, 4), "abab");
  v.weight = {1, 3};
  for (int cycle = 0; cycle < 5; ++cycle) {
    const auto counts = testing::tally(rr, v, 4);
    EXPECT_EQ(counts, (std::vector<std::size_t>{1, 3})) << cycle;
  }
}

TEST(round_robin_balancer, ineligible_never_picked_and_banks_no_credit) {
  round_robin_balancer rr(3);
  pool_view v({1, 0, 1});
  EXPECT_EQ(sequence(rr, v, 6), "acacac");
  v.weight = {1, 1, 1};
  // Had b banked credit while out it would now burst.
  EXPECT_EQ(sequence(rr, v, 6), "abcabc");
}

TEST(round_robin_balancer, none_eligible_is_minus_one) {
  round_robin_balancer rr(2);
  pool_view v({0, 0});
  EXPECT_EQ(rr.pick(v.request()), -1);
  round_robin_balancer empty(0);
  EXPECT_EQ(empty.pick(pick_request{}), -1);
  // A failed pick leaves the schedule untouched.
  v.weight = {1, 2};
  EXPECT_EQ(sequence(rr, v, 3), "bab");
}

TEST(round_robin_balancer, short_request_treats_missing_endpoints_as_ineligible) {
  round_robin_balancer rr(3);
  const pool_view v({1, 1});
  EXPECT_EQ(sequence(rr, v, 4), "abab");
}

}  // namespace
}  // namespace lb::balancer
