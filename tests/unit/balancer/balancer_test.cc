#include "lb/balancer/balancer.h"

#include <gtest/gtest.h>

#include <stdexcept>

#include "tests/unit/balancer/pick_helpers.h"

#include "tests/unit/alloc_count.h"
#define LB_BALANCER_ALLOC_COUNT LB_COUNT_ALLOCATIONS

namespace lb::balancer {
namespace {

using config::balancer_kind;
using testing::pool_view;

const balancer_kind all_kinds[] = {balancer_kind::round_robin, balancer_kind::least_conn,
                                   balancer_kind::least_request, balancer_kind::random,
                                   balancer_kind::ip_hash, balancer_kind::ring_hash,
                                   balancer_kind::maglev};

class balancer_kinds : public ::testing::TestWithParam<balancer_kind> {};

TEST_P(balancer_kinds, follows_weights) {
  const std::vector<std::uint32_t> w{1, 2, 3, 4};
  auto b = make_balancer(GetParam(), w, 1);
  const pool_view v(w);
  const auto hashes = testing::key_hashes(100000);
  std::vector<std::size_t> counts(4);
  for (auto h : hashes) {
    const int p = b->pick(v.request(h));
    ASSERT_GE(p, 0);
    ++counts[p];
  }
  const auto want = testing::expected_shares(w);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_NEAR(counts[i] / 100000.0, want[i], 0.02) << i;
}

TEST_P(balancer_kinds, ineligible_never_picked) {
  auto b = make_balancer(GetParam(), {1, 1, 1, 1, 1}, 2);
  const pool_view v({1, 0, 1, 0, 1});
  for (auto h : testing::key_hashes(10000)) {
    const int p = b->pick(v.request(h));
    EXPECT_TRUE(p == 0 || p == 2 || p == 4) << p;
  }
}

TEST_P(balancer_kinds, none_eligible_is_minus_one) {
  auto b = make_balancer(GetParam(), {1, 1, 1}, 3);
  const pool_view v({0, 0, 0});
  for (auto h : testing::key_hashes(100)) EXPECT_EQ(b->pick(v.request(h)), -1);
  auto empty = make_balancer(GetParam(), {}, 3);
  EXPECT_EQ(empty->pick(pick_request{}), -1);
}

TEST_P(balancer_kinds, same_snapshot_and_seed_same_picks) {
  // Reproducible from (snapshot, seed); hash kinds agree across workers
  // whatever the seed.
  const balancer_snapshot snap(GetParam(), {3, 1, 4, 1, 5}, testing::ids(5));
  auto a = snap.make(7), b = snap.make(7), c = snap.make(8);
  const pool_view v({3, 1, 4, 1, 5});
  const bool hashed = GetParam() == balancer_kind::ip_hash ||
                      GetParam() == balancer_kind::ring_hash || GetParam() == balancer_kind::maglev;
  for (auto h : testing::key_hashes(1000)) {
    const int p = a->pick(v.request(h));
    EXPECT_EQ(p, b->pick(v.request(h)));
    if (hashed) {
      EXPECT_EQ(p, c->pick(v.request(h)));
    }
  }
}

TEST_P(balancer_kinds, pick_does_not_allocate) {
  if (!LB_BALANCER_ALLOC_COUNT) GTEST_SKIP() << "allocation counting is off under ASan";
#if LB_BALANCER_ALLOC_COUNT
  auto b = make_balancer(GetParam(), {1, 2, 3, 4, 5, 6, 7, 8}, 4);
  pool_view v({1, 2, 3, 0, 5, 6, 7, 8}, {3, 1, 4, 1, 5, 9, 2, 6});
  const auto hashes = testing::key_hashes(1000);
  const std::size_t before = ::lb::test::allocations();
  int sum = 0;
  for (auto h : hashes) sum += b->pick(v.request(h));
  v.weight.assign(8, 0);
  for (auto h : hashes) sum += b->pick(v.request(h));
  EXPECT_EQ(::lb::test::allocations(), before);
  EXPECT_GT(sum, 0);
#endif
}

INSTANTIATE_TEST_SUITE_P(all, balancer_kinds, ::testing::ValuesIn(all_kinds),
                         [](const ::testing::TestParamInfo<balancer_kind>& i) {
                           switch (i.param) {
                             case balancer_kind::round_robin: return std::string("round_robin");
                             case balancer_kind::least_conn: return std::string("least_conn");
                             case balancer_kind::least_request: return std::string("least_request");
                             case balancer_kind::random: return std::string("random");
                             case balancer_kind::ip_hash: return std::string("ip_hash");
                             case balancer_kind::ring_hash: return std::string("ring_hash");
                             case balancer_kind::maglev: return std::string("maglev");
                           }
                           return std::string("unknown");
                         });

TEST(balancer_snapshot, ids_must_match_weights) {
  EXPECT_THROW(balancer_snapshot(balancer_kind::round_robin, {1, 2}, testing::ids(3)),
               std::invalid_argument);
  EXPECT_THROW(make_balancer(balancer_kind::maglev, {1, 2}, 0, testing::ids(1)),
               std::invalid_argument);
}

TEST(balancer_snapshot, default_ids_are_ep_index) {
  const std::vector<std::uint32_t> w{1, 2, 3};
  const std::vector<std::string> ep{"ep0", "ep1", "ep2"};
  for (auto kind : {balancer_kind::ring_hash, balancer_kind::maglev}) {
    auto a = make_balancer(kind, w, 0);
    auto b = make_balancer(kind, w, 0, ep);
    const pool_view v(w);
    for (auto h : testing::key_hashes(1000)) {
      EXPECT_EQ(a->pick(v.request(h)), b->pick(v.request(h)));
    }
  }
}

TEST(balancer_snapshot, duplicate_ids_each_get_keys) {
  // The same host:port listed twice is two endpoints, each with its own share.
  for (auto kind : {balancer_kind::ring_hash, balancer_kind::maglev}) {
    auto b = make_balancer(kind, {1, 1}, 0, {"10.0.0.1:80", "10.0.0.1:80"});
    const pool_view v({1, 1});
    std::vector<std::size_t> counts(2);
    for (auto h : testing::key_hashes(10000)) ++counts.at(b->pick(v.request(h)));
    EXPECT_NEAR(counts[0] / 10000.0, 0.5, 0.1);
  }
}

TEST(balancer_snapshot, balancers_outlive_the_snapshot) {
  std::unique_ptr<balancer> b;
  {
    const balancer_snapshot snap(balancer_kind::maglev, {1, 1}, testing::ids(2));
    b = snap.make(0);
  }
  const pool_view v({1, 1});
  EXPECT_GE(b->pick(v.request(12345)), 0);
}

TEST(balancer_snapshot, keeps_kind_and_weights) {
  const balancer_snapshot snap(balancer_kind::least_request, {5, 6}, testing::ids(2));
  EXPECT_EQ(snap.kind(), balancer_kind::least_request);
  EXPECT_EQ(snap.weights(), (std::vector<std::uint32_t>{5, 6}));
}

}  // namespace
}  // namespace lb::balancer
