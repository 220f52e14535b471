#include "lb/balancer/hash.h"

#include <gtest/gtest.h>

#include <bit>
#include <string>
#include <unordered_set>
#include <vector>

#include "lb/balancer/balancer.h"

namespace lb::balancer {
namespace {

TEST(hash_key, fixed_outputs) {
  // XXH3-64, seed 0. These values decide which endpoint every key reaches on
  // every lb instance: changing them remaps all hashed traffic.
  EXPECT_EQ(hash_key(""), 0x2d06800538d394c2ull);  // xxHash's published vector
  EXPECT_EQ(hash_key("a"), 0xe6c632b61e964e1full);
  EXPECT_EQ(hash_key("abc"), 0x78af5f94892f3950ull);
  EXPECT_EQ(hash_key("10.0.0.1"), 0xb61d99f8e56b6646ull);
  EXPECT_EQ(hash_key("192.0.2.1"), 0xd5f33d205a82b1d0ull);
  EXPECT_EQ(hash_key("/api/v1/users"), 0xa24456df524a5fc0ull);
  EXPECT_EQ(hash_key("session=abcdef"), 0x5edb7074c608b5b6ull);
}

TEST(hash_key, derived_sequences_do_not_collide) {
  // Ring points of ids differing in one character, from nth(hash_key(id), r):
  // no two of 16 ids x 1024 replicas may share a 32-bit position by
  // construction (XXH3 seeded with r did: "ep0"/1 == "ep1"/0).
  std::unordered_set<std::uint32_t> points;
  for (int id = 0; id < 16; ++id) {
    const auto base = hash_key("ep" + std::to_string(id));
    for (std::uint64_t r = 0; r < 1024; ++r)
      points.insert(static_cast<std::uint32_t>(detail::nth(base, r) >> 32));
  }
  // 16384 random 32-bit values: ~0.03 collisions expected.
  EXPECT_GE(points.size(), 16384u - 2);
  EXPECT_EQ(detail::mix64(0), 0u);  // the finalizer's fixed point: nth() never feeds it 0 + 0
  EXPECT_EQ(detail::nth(0, 0), 0xe220a8397b1dcdafull);  // splitmix64(seed 0)'s first output
}

TEST(hash_key, well_spread) {
  // Near-identical keys (consecutive client IPs) must not cluster, in the
  // high bits (ring position) nor the low ones (Maglev slot).
  constexpr std::size_t keys = 65536, buckets = 16;
  std::vector<std::size_t> high(buckets), low(buckets), mid(buckets);
  std::unordered_set<std::uint64_t> seen;
  for (std::size_t i = 0; i < keys; ++i) {
    const auto h = hash_key("10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256));
    ++high[h >> 60];
    ++low[h & 15];
    ++mid[(h >> 30) & 15];
    seen.insert(h);
  }
  EXPECT_EQ(seen.size(), keys);
  // 4096 expected per bucket, sd 62: +-5% is > 3 sd.
  for (std::size_t b = 0; b < buckets; ++b) {
    EXPECT_NEAR(double(high[b]), keys / buckets, keys / buckets * 0.05) << b;
    EXPECT_NEAR(double(low[b]), keys / buckets, keys / buckets * 0.05) << b;
    EXPECT_NEAR(double(mid[b]), keys / buckets, keys / buckets * 0.05) << b;
  }
}

TEST(hash_key, one_bit_changes_half_the_output) {
  // Avalanche: "client-0" and "client-1" differ in one input bit.
  double total = 0;
  constexpr int pairs = 1000;
  for (int i = 0; i < pairs; ++i) {
    std::string a = "client-" + std::to_string(i), b = a;
    b[0] ^= 1;
    total += std::popcount(hash_key(a) ^ hash_key(b));
  }
  EXPECT_NEAR(total / pairs, 32.0, 1.0);
}

}  // namespace
}  // namespace lb::balancer
