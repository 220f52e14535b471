#include "lb/balancer/maglev.h"

#include <gtest/gtest.h>

#include <memory>

#include "tests/unit/balancer/pick_helpers.h"

namespace lb::balancer {
namespace {

using testing::pool_view;

constexpr std::size_t keys = 100000;
constexpr std::size_t n = 10;

maglev_balancer make(const std::vector<std::uint32_t>& w, const std::vector<std::string>& id) {
  return maglev_balancer(std::make_shared<const maglev_table>(w, id));
}

TEST(maglev, table_is_full_and_equal_weights_share_evenly) {
  const maglev_table t(std::vector<std::uint32_t>(n, 1), testing::ids(n));
  std::size_t total = 0;
  for (std::size_t i = 0; i < n; ++i) {
    // Equal weights take turns round by round: shares differ by at most one.
    EXPECT_NEAR(double(t.slots_of(i)), double(maglev_table::size) / n, 1.0) << i;
    total += t.slots_of(i);
  }
  EXPECT_EQ(total, maglev_table::size);
}

TEST(maglev, table_shares_follow_weights) {
  const std::vector<std::uint32_t> w{1, 2, 3, 4};
  const maglev_table t(w, testing::ids(4));
  const auto want = testing::expected_shares(w);
  for (std::size_t i = 0; i < 4; ++i)
    EXPECT_NEAR(double(t.slots_of(i)) / maglev_table::size, want[i], 0.001) << i;

  const std::vector<std::uint32_t> uneven{1, 1000, 500};
  const maglev_table u(uneven, testing::ids(3));
  const auto want_u = testing::expected_shares(uneven);
  for (std::size_t i = 0; i < 3; ++i)
    EXPECT_NEAR(double(u.slots_of(i)) / maglev_table::size, want_u[i], 0.001) << i;
  EXPECT_GT(u.slots_of(0), 0u);
}

TEST(maglev, key_shares_follow_weights) {
  auto b = make({1, 2, 3, 4}, testing::ids(4));
  const pool_view v({1, 2, 3, 4});
  std::vector<std::size_t> counts(4);
  for (auto h : testing::key_hashes(keys)) ++counts.at(b.pick(v.request(h)));
  const auto want = testing::expected_shares(v.weight);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_NEAR(counts[i] / double(keys), want[i], 0.01) << i;
}

TEST(maglev, lookup_is_table_slot) {
  const auto t = std::make_shared<const maglev_table>(std::vector<std::uint32_t>{1, 1, 1},
                                                      testing::ids(3));
  maglev_balancer b(t);
  const pool_view v({1, 1, 1});
  for (std::uint64_t h : {0ull, 1ull, 65536ull, 65537ull, 123456789ull, ~0ull})
    EXPECT_EQ(b.pick(v.request(h)), t->owner(h % maglev_table::size)) << h;
}

TEST(maglev, removing_one_of_ten_moves_about_a_tenth) {
  const auto hashes = testing::key_hashes(keys);
  const auto all_ids = testing::ids(n);
  auto full = make(std::vector<std::uint32_t>(n, 1), all_ids);
  const auto before =
      testing::owners(full, all_ids, pool_view(std::vector<std::uint32_t>(n, 1)), hashes);

  auto fewer_ids = all_ids;
  const std::string gone = fewer_ids[3];
  fewer_ids.erase(fewer_ids.begin() + 3);
  auto fewer = make(std::vector<std::uint32_t>(n - 1, 1), fewer_ids);
  const auto after =
      testing::owners(fewer, fewer_ids, pool_view(std::vector<std::uint32_t>(n - 1, 1)), hashes);

  // Its own ~1/N must move; Maglev moves a little more, not 1.5x as much.
  std::size_t own = 0;
  for (std::size_t k = 0; k < keys; ++k) own += before[k] == gone;
  const std::size_t m = testing::moved(before, after);
  EXPECT_GE(m, own);
  EXPECT_LT(m, keys * 1.5 / n);

  auto again = make(std::vector<std::uint32_t>(n, 1), all_ids);
  EXPECT_EQ(testing::owners(again, all_ids, pool_view(std::vector<std::uint32_t>(n, 1)), hashes),
            before);
}

TEST(maglev, adding_an_eleventh_moves_about_an_eleventh) {
  const auto hashes = testing::key_hashes(keys);
  const auto ten = testing::ids(n);
  const auto eleven = testing::ids(n + 1);
  auto a = make(std::vector<std::uint32_t>(n, 1), ten);
  auto b = make(std::vector<std::uint32_t>(n + 1, 1), eleven);
  const auto before = testing::owners(a, ten, pool_view(std::vector<std::uint32_t>(n, 1)), hashes);
  const auto after =
      testing::owners(b, eleven, pool_view(std::vector<std::uint32_t>(n + 1, 1)), hashes);
  EXPECT_LT(testing::moved(before, after), keys * 1.5 / (n + 1));
}

TEST(maglev, ineligible_moves_only_its_keys) {
  const auto hashes = testing::key_hashes(keys);
  const auto id = testing::ids(n);
  auto b = make(std::vector<std::uint32_t>(n, 1), id);
  pool_view v(std::vector<std::uint32_t>(n, 1));
  const auto before = testing::owners(b, id, v, hashes);
  v.weight[2] = 0;
  const auto during = testing::owners(b, id, v, hashes);
  std::vector<std::size_t> took(n);
  std::size_t m = 0;
  for (std::size_t k = 0; k < keys; ++k) {
    EXPECT_NE(during[k], id[2]);
    if (before[k] != id[2]) {
      EXPECT_EQ(during[k], before[k]) << k;
    }
    if (before[k] != during[k]) {
      ++m;
      for (std::size_t i = 0; i < n; ++i) took[i] += during[k] == id[i];
    }
  }
  EXPECT_LT(m, keys * 1.5 / n);
  // The probe spreads them over the other nine, not onto one neighbour.
  for (std::size_t i = 0; i < n; ++i)
    if (i != 2) {
      EXPECT_NEAR(double(took[i]) / m, 1.0 / (n - 1), 0.03) << i;
    }
  v.weight[2] = 1;
  EXPECT_EQ(testing::owners(b, id, v, hashes), before);
}

TEST(maglev, only_one_eligible_takes_every_key) {
  auto b = make(std::vector<std::uint32_t>(n, 1), testing::ids(n));
  pool_view v(std::vector<std::uint32_t>(n, 0));
  v.weight[4] = 1;
  for (auto h : testing::key_hashes(1000)) EXPECT_EQ(b.pick(v.request(h)), 4);
}

TEST(maglev, none_eligible_is_minus_one) {
  auto b = make(std::vector<std::uint32_t>(n, 1), testing::ids(n));
  const pool_view v(std::vector<std::uint32_t>(n, 0));
  for (auto h : testing::key_hashes(100)) EXPECT_EQ(b.pick(v.request(h)), -1);
  auto empty = make({}, {});
  EXPECT_EQ(empty.pick(pick_request{}), -1);
}

TEST(maglev, same_ids_same_table) {
  // The table is a pure function of (weights, ids): every worker and every lb
  // instance sends a key to the same endpoint.
  const maglev_table a({1, 2, 3}, testing::ids(3));
  const maglev_table b({1, 2, 3}, testing::ids(3));
  for (std::size_t s = 0; s < maglev_table::size; ++s) ASSERT_EQ(a.owner(s), b.owner(s)) << s;
}

TEST(maglev, bad_arguments_throw) {
  EXPECT_THROW(maglev_table({1, 1}, testing::ids(3)), std::invalid_argument);
  EXPECT_THROW(maglev_table(std::vector<std::uint32_t>(70000, 1), testing::ids(70000)),
               std::invalid_argument);
}

}  // namespace
}  // namespace lb::balancer
