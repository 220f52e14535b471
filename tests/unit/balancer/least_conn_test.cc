#include "lb/balancer/least_conn.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/unit/balancer/pick_helpers.h"

namespace lb::balancer {
namespace {

using testing::pool_view;

TEST(least_conn, picks_the_least_loaded) {
  least_conn_balancer lc(4);
  const pool_view v({1, 1, 1, 1}, {5, 2, 7, 3});
  for (int i = 0; i < 10; ++i) EXPECT_EQ(lc.pick(v.request()), 1);
}

TEST(least_conn, weight_aware) {
  least_conn_balancer lc(2);
  // 1/1 against 2/3: endpoint 1 carries less per unit of weight.
  EXPECT_EQ(lc.pick(pool_view({1, 3}, {1, 2}).request()), 1);
  // 1/1 against 4/3.
  EXPECT_EQ(lc.pick(pool_view({1, 3}, {1, 4}).request()), 0);
  // Large values: the cross-multiplication is done in 64 bits.
  EXPECT_EQ(lc.pick(pool_view({1000, 999}, {4000000000u, 3999999999u}).request()), 0);
}

TEST(least_conn, ties_rotate) {
  least_conn_balancer lc(3);
  const pool_view v({1, 1, 1}, {4, 4, 4});
  std::string seq;
  for (int i = 0; i < 6; ++i) seq += static_cast<char>('a' + lc.pick(v.request()));
  EXPECT_EQ(seq, "abcabc");
}

TEST(least_conn, ties_share_by_weight) {
  // An idle pool: every ratio is 0, so the smooth weighted RR among the tied
  // endpoints gives the exact weight shares.
  least_conn_balancer lc(4);
  const pool_view v({1, 2, 3, 4});
  EXPECT_EQ(testing::tally(lc, v, 100000), (std::vector<std::size_t>{10000, 20000, 30000, 40000}));
}

TEST(least_conn, ties_only_among_the_least_loaded) {
  least_conn_balancer lc(4);
  const pool_view v({1, 1, 1, 1}, {3, 1, 2, 1});
  EXPECT_EQ(testing::tally(lc, v, 100), (std::vector<std::size_t>{0, 50, 0, 50}));
}

TEST(least_conn, balances_a_live_pool_by_weight) {
  // Each pick opens a connection; connections close oldest first. The open
  // counts then stay proportional to the weights, and so do the picks.
  least_conn_balancer lc(4);
  pool_view v({1, 2, 3, 4});
  std::vector<int> open;  // endpoint of each open connection, oldest first
  std::vector<std::size_t> counts(4);
  for (int i = 0; i < 100000; ++i) {
    const int p = lc.pick(v.request());
    ASSERT_GE(p, 0);
    ++counts[p];
    ++v.load[p];
    open.push_back(p);
    if (open.size() > 50) {
      --v.load[open.front()];
      open.erase(open.begin());
    }
  }
  const auto want = testing::expected_shares(v.weight);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_NEAR(counts[i] / 100000.0, want[i], 0.02) << i;
}

TEST(least_conn, ineligible_never_picked) {
  least_conn_balancer lc(3);
  // Endpoint 0 is the least loaded but out.
  const pool_view v({0, 1, 1}, {0, 5, 5});
  const auto counts = testing::tally(lc, v, 1000);
  EXPECT_EQ(counts, (std::vector<std::size_t>{0, 500, 500}));
}

TEST(least_conn, none_eligible_is_minus_one) {
  least_conn_balancer lc(2);
  EXPECT_EQ(lc.pick(pool_view({0, 0}).request()), -1);
  least_conn_balancer empty(0);
  EXPECT_EQ(empty.pick(pick_request{}), -1);
}

TEST(least_conn, null_load_is_all_idle) {
  least_conn_balancer lc(2);
  const std::vector<std::uint32_t> w{1, 1};
  std::string seq;
  for (int i = 0; i < 4; ++i)
    seq += static_cast<char>('a' + lc.pick(pick_request{w.data(), nullptr, w.size(), 0}));
  EXPECT_EQ(seq, "abab");
}

}  // namespace
}  // namespace lb::balancer
