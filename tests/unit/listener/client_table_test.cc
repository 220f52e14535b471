#include "lb/listener/client_table.h"

#include <gtest/gtest.h>

#include <vector>

#include "lb/config/parse.h"
#include "lb/listener/client_limits.h"
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

TEST(TokenBucket, ClockGoingBackGivesNothingBack) {
  token_bucket b;
  EXPECT_TRUE(b.take(1, 1, 10 * kSec));
  EXPECT_FALSE(b.take(1, 1, 5 * kSec));  // an earlier time refills nothing
  EXPECT_TRUE(b.take(1, 1, 11 * kSec));
}

TEST(ClientTable, BoundedWithLruEviction) {
  client_table t(4);
  for (std::uint32_t n = 0; n < 4; ++n) t.get(key(n))->request_rate.tokens = n + 1;
  EXPECT_EQ(t.size(), 4u);
  EXPECT_EQ(t.oldest(), key(0));
  t.get(key(0));  // touch: 1 becomes the oldest
  EXPECT_EQ(t.oldest(), key(1));
  t.get(key(9));  // evicts 1
  EXPECT_EQ(t.size(), 4u);
  EXPECT_EQ(t.evictions(), 1u);
  EXPECT_EQ(t.find(key(1)), nullptr);
  ASSERT_NE(t.find(key(0)), nullptr);
  EXPECT_EQ(t.find(key(0))->request_rate.tokens, 1);
  EXPECT_LT(t.find(key(9))->request_rate.tokens, 0);  // fresh state
  EXPECT_EQ(t.oldest(), key(2));
}

TEST(ClientTable, EntriesWithOpenConnectionsAreNeverEvicted) {
  client_table t(2);
  auto* a = t.get(key(1));
  const auto ia = t.index_of(*a);
  t.open(ia);
  t.open(ia);
  // A flood of other clients cycles through the one unpinned entry.
  for (std::uint32_t n = 100; n < 200; ++n) ASSERT_NE(t.get(key(n)), nullptr);
  ASSERT_EQ(t.find(key(1)), a);
  EXPECT_EQ(a->connections, 2u);
  // Every entry pinned: no room for a new client, known ones still found.
  t.open(t.index_of(*t.get(key(199))));
  EXPECT_EQ(t.get(key(300)), nullptr);
  EXPECT_EQ(t.get(key(1)), a);
  // The last connection's end makes the entry evictable again, as the newest.
  t.close(ia);
  EXPECT_EQ(t.get(key(301)), nullptr);  // still pinned by one connection
  t.close(ia);
  EXPECT_EQ(a->connections, 0u);
  t.close(ia);  // one close too many changes nothing
  EXPECT_EQ(a->connections, 0u);
  EXPECT_EQ(t.oldest(), key(1));
  ASSERT_NE(t.get(key(301)), nullptr);  // takes 1's entry; 199 stays pinned
  EXPECT_EQ(t.find(key(1)), nullptr);
  EXPECT_NE(t.find(key(199)), nullptr);
}

TEST(ClientLimiter, ResizeStartsAfreshAndIgnoresOldReleases) {
  client_limiter l;
  auto& t1 = l.table(16);
  const auto g1 = l.generation();
  const auto slot = t1.index_of(*t1.get(key(1)));
  t1.open(slot);
  auto& t2 = l.table(32);
  EXPECT_EQ(t2.capacity(), 32u);
  EXPECT_NE(l.generation(), g1);
  auto* e = t2.get(key(1));
  t2.open(t2.index_of(*e));
  l.release(g1, slot);  // a connection of the old table: nothing to give back here
  EXPECT_EQ(e->connections, 1u);
  l.release(l.generation(), t2.index_of(*e));
  EXPECT_EQ(e->connections, 0u);
  EXPECT_EQ(&l.table(32), &t2);  // same size: kept
}

TEST(ClientTable, FloodOfDistinctKeysStaysBoundedWithoutAllocating) {
  client_table t(64);
  const auto before = test::allocations();
  for (std::uint32_t n = 0; n < 100'000; ++n) ASSERT_NE(t.get(key(n)), nullptr);
  // A known client's lookup: a hash hit, no allocation either.
  for (int i = 0; i < 1000; ++i) ASSERT_NE(t.get(key(100'000 - 1)), nullptr);
  EXPECT_EQ(test::allocations(), before);
  EXPECT_EQ(t.size(), 64u);
  EXPECT_EQ(t.evictions(), 100'000u - 64u);
  for (std::uint32_t n = 100'000 - 64; n < 100'000; ++n) EXPECT_NE(t.find(key(n)), nullptr) << n;
  EXPECT_EQ(t.find(key(0)), nullptr);
  EXPECT_EQ(t.oldest(), key(100'000 - 64));
}

TEST(ClientKey, Ipv4MappedAndAllowlistBlocks) {
  const auto v4 = key_of(boost::asio::ip::make_address("127.0.0.2"));
  EXPECT_EQ(v4, key(0x7f000002));
  // An IPv4 client seen on a dual-stack socket is the same client.
  EXPECT_EQ(key_of(boost::asio::ip::make_address("::ffff:127.0.0.2")), v4);
  const auto v6 = key_of(boost::asio::ip::make_address("2001:db8::1"));
  std::vector<config::cidr> blocks{*config::parse_cidr("127.0.0.2/32"), *config::parse_cidr("10.0.0.0/8"),
                                   *config::parse_cidr("2001:db8::/33")};
  EXPECT_TRUE(in_blocks(blocks, v4));
  EXPECT_FALSE(in_blocks(blocks, key_of(boost::asio::ip::make_address("127.0.0.1"))));
  EXPECT_TRUE(in_blocks(blocks, key_of(boost::asio::ip::make_address("10.200.3.4"))));
  EXPECT_FALSE(in_blocks(blocks, key_of(boost::asio::ip::make_address("11.0.0.1"))));
  EXPECT_TRUE(in_blocks(blocks, v6));
  EXPECT_FALSE(in_blocks(blocks, key_of(boost::asio::ip::make_address("2001:db8:8000::1"))));
  // ::/0 is IPv6 only; 0.0.0.0/0 covers every IPv4 client.
  EXPECT_FALSE(in_blocks({*config::parse_cidr("::/0")}, v4));
  EXPECT_TRUE(in_blocks({*config::parse_cidr("0.0.0.0/0")}, v4));
}

}  // namespace
}  // namespace lb::listener
