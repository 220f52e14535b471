#include "lb/balancer/round_robin.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace lb::balancer {
namespace {

std::string sequence(round_robin& rr, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += static_cast<char>('a' + rr.pick());
  return out;
}

TEST(round_robin, smooth_sequence_for_5_1_1) {
  round_robin rr({5, 1, 1});
  EXPECT_EQ(rr.size(), 3u);
  // nginx's smooth weighted RR: the heavy endpoint is spread out, not burst.
  EXPECT_EQ(sequence(rr, 7), "aabacaa");
  EXPECT_EQ(sequence(rr, 7), "aabacaa");  // and the cycle repeats exactly
}

TEST(round_robin, equal_weights_rotate) {
  round_robin rr({1, 1, 1});
  EXPECT_EQ(sequence(rr, 6), "abcabc");
}

TEST(round_robin, shares_equal_weights_exactly) {
  const std::vector<std::uint32_t> weights{7, 3, 1, 1000, 13};
  round_robin rr(weights);
  std::uint32_t total = 0;
  for (auto w : weights) total += w;
  std::vector<std::uint32_t> counts(weights.size());
  const std::uint32_t cycles = 5;
  for (std::uint32_t i = 0; i < total * cycles; ++i) ++counts.at(rr.pick());
  for (std::size_t i = 0; i < weights.size(); ++i) EXPECT_EQ(counts[i], weights[i] * cycles) << i;
}

TEST(round_robin, no_endpoint_twice_in_a_row_when_weights_allow) {
  round_robin rr({2, 2, 1});
  int last = -1;
  for (int i = 0; i < 50; ++i) {
    const int p = rr.pick();
    EXPECT_NE(p, last) << "pick " << i;
    last = p;
  }
}

TEST(round_robin, eligibility_skips_endpoints) {
  round_robin rr({1, 1, 1});
  std::vector<int> picks;
  for (int i = 0; i < 6; ++i) picks.push_back(rr.pick([](std::size_t j) { return j != 1; }));
  EXPECT_EQ(picks, (std::vector<int>{0, 2, 0, 2, 0, 2}));
}

TEST(round_robin, skipped_endpoint_does_not_bank_credit) {
  // While ineligible an endpoint must not accumulate weight and then burst.
  round_robin rr({1, 1});
  for (int i = 0; i < 10; ++i) EXPECT_EQ(rr.pick([](std::size_t j) { return j == 0; }), 0);
  // Had b banked ten picks of credit it would now win ten times running.
  EXPECT_EQ(sequence(rr, 4), "abab");
}

TEST(round_robin, weighted_share_among_eligible_only) {
  round_robin rr({5, 1, 1});
  std::vector<int> counts(3);
  for (int i = 0; i < 600; ++i) ++counts.at(rr.pick([](std::size_t j) { return j != 0; }));
  EXPECT_EQ(counts, (std::vector<int>{0, 300, 300}));
}

TEST(round_robin, none_eligible_is_minus_one) {
  round_robin rr({1, 2});
  EXPECT_EQ(rr.pick([](std::size_t) { return false; }), -1);
  round_robin empty({});
  EXPECT_EQ(empty.pick(), -1);
  // A failed pick leaves the schedule untouched.
  EXPECT_EQ(sequence(rr, 3), "bab");
}

}  // namespace
}  // namespace lb::balancer
