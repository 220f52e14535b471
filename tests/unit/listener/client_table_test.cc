#include "lb/listener/client_table.h"

#include <gtest/gtest.h>

#include "tests/unit/alloc_count.h"

namespace lb::listener {
namespace {

constexpr std::int64_t kSec = 1'000'000'000;

client_key key(std::uint32_t n) {
  client_key k{};
  k[10] = k[11] = 0xff;
  k[12] = static_cast<std::uint8_t>(n >> 24);
  k[13] = static_cast<std::uint8_t>(n >> 16);
  k[14] = static_cast<std::uint8_t>(n >> 8);
  k[15] = static_cast<std::uint8_t>(n);
  return k;
}

TEST(TokenBucket, BurstThenRate) {
  token_bucket b;
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(b.take(2, 5, 0)) << i;
  EXPECT_FALSE(b.take(2, 5, 0));
  EXPECT_EQ(b.retry_after_s(2), 1);
  EXPECT_FALSE(b.take(2, 5, kSec / 4));  // half a token back
  EXPECT_TRUE(b.take(2, 5, kSec / 2));   // one token back
  EXPECT_FALSE(b.take(2, 5, kSec / 2));
  // A long pause refills to burst, not beyond.
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(b.take(2, 5, 100 * kSec)) << i;
  EXPECT_FALSE(b.take(2, 5, 100 * kSec));
}

TEST(TokenBucket, RetryAfterRoundsUpSlowRates) {
  token_bucket b;
  EXPECT_TRUE(b.take(0.25, 1, 0));
  EXPECT_FALSE(b.take(0.25, 1, 0));
  EXPECT_EQ(b.retry_after_s(0.25), 4);
}

TEST(ClientTable, BoundedWithLruEviction) {
  client_table t(4);
  for (std::uint32_t n = 0; n < 4; ++n) t.get(key(n)).connections = n + 1;
  EXPECT_EQ(t.size(), 4u);
  EXPECT_EQ(t.oldest(), key(0));
  t.get(key(0));  // touch: 1 becomes the oldest
  EXPECT_EQ(t.oldest(), key(1));
  t.get(key(9));  // evicts 1
  EXPECT_EQ(t.size(), 4u);
  EXPECT_EQ(t.evictions(), 1u);
  EXPECT_EQ(t.find(key(1)), nullptr);
  ASSERT_NE(t.find(key(0)), nullptr);
  EXPECT_EQ(t.find(key(0))->connections, 1u);
  EXPECT_EQ(t.find(key(9))->connections, 0u);  // fresh state
  EXPECT_EQ(t.oldest(), key(2));
}

TEST(ClientTable, FloodOfDistinctKeysStaysBoundedWithoutAllocating) {
  client_table t(64);
  const auto before = test::allocations();
  for (std::uint32_t n = 0; n < 100'000; ++n) t.get(key(n)).connections = 1;
  EXPECT_EQ(test::allocations(), before);
  EXPECT_EQ(t.size(), 64u);
  EXPECT_EQ(t.evictions(), 100'000u - 64u);
  for (std::uint32_t n = 100'000 - 64; n < 100'000; ++n) EXPECT_NE(t.find(key(n)), nullptr) << n;
  EXPECT_EQ(t.find(key(0)), nullptr);
  EXPECT_EQ(t.oldest(), key(100'000 - 64));
}

}  // namespace
}  // namespace lb::listener
