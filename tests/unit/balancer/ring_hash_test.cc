#include "lb/balancer/ring_hash.h"

#include <gtest/gtest.h>

#include <memory>

#include "tests/unit/balancer/pick_helpers.h"

namespace lb::balancer {
namespace {

using config::balancer_kind;
using testing::pool_view;

constexpr std::size_t keys = 100000;
constexpr std::size_t n = 10;

ring_hash_balancer make(const std::vector<std::uint32_t>& w, const std::vector<std::string>& id) {
  return ring_hash_balancer(std::make_shared<const hash_ring>(w, id));
}

TEST(ring_hash, points_follow_normalized_weights) {
  // Weights are divided by their gcd: {100, 200} places like {1, 2}.
  const hash_ring ring({100, 200, 300}, testing::ids(3));
  EXPECT_EQ(ring.points_of(0), hash_ring::points_per_unit);
  EXPECT_EQ(ring.points_of(1), 2 * hash_ring::points_per_unit);
  EXPECT_EQ(ring.points_of(2), 3 * hash_ring::points_per_unit);
  EXPECT_EQ(ring.points(), 6 * hash_ring::points_per_unit);
}

TEST(ring_hash, very_uneven_weights_are_capped) {
  const hash_ring ring({1, 999, 1000}, testing::ids(3));
  EXPECT_LE(ring.points(), hash_ring::max_points);
  EXPECT_GE(ring.points_of(0), 1u);
  EXPECT_NEAR(double(ring.points_of(2)) / ring.points_of(1), 1000.0 / 999, 0.01);
}

TEST(ring_hash, key_shares_follow_weights) {
  auto b = make({1, 2, 3, 4}, testing::ids(4));
  const pool_view v({1, 2, 3, 4});
  std::vector<std::size_t> counts(4);
  for (auto h : testing::key_hashes(keys)) ++counts.at(b.pick(v.request(h)));
  const auto want = testing::expected_shares(v.weight);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_NEAR(counts[i] / double(keys), want[i], 0.02) << i;
}

TEST(ring_hash, same_key_same_endpoint) {
  auto b = make({1, 1, 1}, testing::ids(3));
  const pool_view v({1, 1, 1});
  for (auto h : testing::key_hashes(1000)) EXPECT_EQ(b.pick(v.request(h)), b.pick(v.request(h)));
}

TEST(ring_hash, removing_one_of_ten_moves_only_its_keys) {
  const auto hashes = testing::key_hashes(keys);
  const auto all_ids = testing::ids(n);
  auto full = make(std::vector<std::uint32_t>(n, 1), all_ids);
  const auto before =
      testing::owners(full, all_ids, pool_view(std::vector<std::uint32_t>(n, 1)), hashes);

  // Drop 10.0.0.4:80: the later endpoints shift down one index, ids do not.
  auto fewer_ids = all_ids;
  const std::string gone = fewer_ids[3];
  fewer_ids.erase(fewer_ids.begin() + 3);
  auto fewer = make(std::vector<std::uint32_t>(n - 1, 1), fewer_ids);
  const auto after =
      testing::owners(fewer, fewer_ids, pool_view(std::vector<std::uint32_t>(n - 1, 1)), hashes);

  const std::size_t m = testing::moved(before, after);
  EXPECT_LT(m, keys * 1.5 / n);
  EXPECT_GT(m, keys * 0.5 / n);
  for (std::size_t k = 0; k < keys; ++k)
    if (before[k] != after[k]) {
      EXPECT_EQ(before[k], gone) << k;
    }

  // Back again: every key returns exactly.
  auto again = make(std::vector<std::uint32_t>(n, 1), all_ids);
  EXPECT_EQ(testing::owners(again, all_ids, pool_view(std::vector<std::uint32_t>(n, 1)), hashes),
            before);
}

TEST(ring_hash, ineligible_moves_only_its_keys) {
  const auto hashes = testing::key_hashes(keys);
  const auto id = testing::ids(n);
  auto b = make(std::vector<std::uint32_t>(n, 1), id);
  pool_view v(std::vector<std::uint32_t>(n, 1));
  const auto before = testing::owners(b, id, v, hashes);
  v.weight[6] = 0;
  const auto during = testing::owners(b, id, v, hashes);
  std::size_t m = 0;
  for (std::size_t k = 0; k < keys; ++k) {
    EXPECT_NE(during[k], id[6]);
    if (before[k] != id[6]) {
      EXPECT_EQ(during[k], before[k]) << k;
    }
    m += before[k] != during[k];
  }
  EXPECT_LT(m, keys * 1.5 / n);
  v.weight[6] = 1;
  EXPECT_EQ(testing::owners(b, id, v, hashes), before);
}

TEST(ring_hash, effective_weight_does_not_move_keys) {
  // Slow start changes the effective weight; placement follows the
  // configured weights, so a ramping endpoint keeps its keys.
  const auto hashes = testing::key_hashes(1000);
  const auto id = testing::ids(4);
  auto b = make({1, 1, 1, 1}, id);
  pool_view v({1, 1, 1, 1});
  const auto before = testing::owners(b, id, v, hashes);
  v.weight = {1, 1, 1, 40};
  EXPECT_EQ(testing::owners(b, id, v, hashes), before);
}

TEST(ring_hash, only_one_eligible_takes_every_key) {
  auto b = make(std::vector<std::uint32_t>(n, 1), testing::ids(n));
  pool_view v(std::vector<std::uint32_t>(n, 0));
  v.weight[9] = 1;
  for (auto h : testing::key_hashes(1000)) EXPECT_EQ(b.pick(v.request(h)), 9);
}

TEST(ring_hash, none_eligible_is_minus_one) {
  auto b = make(std::vector<std::uint32_t>(n, 1), testing::ids(n));
  const pool_view v(std::vector<std::uint32_t>(n, 0));
  for (auto h : testing::key_hashes(100)) EXPECT_EQ(b.pick(v.request(h)), -1);
  auto empty = make({}, {});
  EXPECT_EQ(empty.pick(pick_request{}), -1);
}

TEST(ring_hash, single_endpoint_takes_every_key) {
  auto b = make({7}, testing::ids(1));
  const pool_view v({7});
  for (auto h : testing::key_hashes(1000)) EXPECT_EQ(b.pick(v.request(h)), 0);
}

TEST(ring_hash, extreme_hashes_wrap_around) {
  auto b = make({1, 1, 1}, testing::ids(3));
  const pool_view v({1, 1, 1});
  const int last = b.pick(v.request(~std::uint64_t{0}));
  EXPECT_EQ(last, b.pick(v.request(0)));  // past the last point is the first point
  EXPECT_GE(last, 0);
}

TEST(ring_hash, bad_arguments_throw) {
  EXPECT_THROW(hash_ring({1, 1}, testing::ids(1)), std::invalid_argument);
  EXPECT_THROW(hash_ring(std::vector<std::uint32_t>(70000, 1), testing::ids(70000)),
               std::invalid_argument);
}

TEST(ip_hash, shares_the_ring) {
  // ip_hash is ring_hash keyed by the client IP: same placement.
  const auto id = testing::ids(5);
  const std::vector<std::uint32_t> w{1, 2, 1, 2, 1};
  auto ip = make_balancer(balancer_kind::ip_hash, w, 0, id);
  auto ring = make_balancer(balancer_kind::ring_hash, w, 0, id);
  const pool_view v(w);
  for (auto h : testing::key_hashes(1000)) {
    EXPECT_EQ(ip->pick(v.request(h)), ring->pick(v.request(h)));
  }
  for (int i = 0; i < 256; ++i) {
    const auto h = hash_key("192.0.2." + std::to_string(i));
    EXPECT_EQ(ip->pick(v.request(h)), ring->pick(v.request(h)));
  }
}

}  // namespace
}  // namespace lb::balancer
