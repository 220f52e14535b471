// block_pool keeps what the last sweep interval needed at once, no more.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "lb/runtime/worker.h"

namespace lb::runtime {
namespace {

using pool = block_pool<1024>;

void cycle(pool& p, std::size_t n) {  // n blocks in use at once, then all back
  std::vector<std::unique_ptr<char[]>> held;
  for (std::size_t i = 0; i < n; ++i) held.push_back(p.take());
  for (auto& b : held) p.give(std::move(b));
}

TEST(block_pool, keeps_the_last_intervals_peak) {
  pool p;
  cycle(p, 1000);
  EXPECT_EQ(p.free_blocks(), 256u);  // before any sweep: the floor
  p.trim();                          // the interval needed 1,000 at once
  cycle(p, 1000);
  EXPECT_EQ(p.free_blocks(), 1000u);  // all came back: none freed to the allocator
  p.trim();
  EXPECT_EQ(p.free_blocks(), 1000u);
  p.trim();  // a quiet interval: back to the floor
  EXPECT_EQ(p.free_blocks(), 256u);
}

TEST(block_pool, keeps_at_most_the_ceiling) {
  pool p;
  cycle(p, 5000);
  p.trim();
  cycle(p, 5000);
  EXPECT_EQ(p.free_blocks(), 4096u);
}

TEST(block_pool, blocks_still_in_use_count_toward_the_peak) {
  pool p;
  std::vector<std::unique_ptr<char[]>> held;
  for (int i = 0; i < 600; ++i) held.push_back(p.take());
  p.trim();  // 600 in use across the sweep
  p.trim();  // still 600 in use: the peak carries over
  for (auto& b : held) p.give(std::move(b));
  EXPECT_EQ(p.free_blocks(), 600u);
}

}  // namespace
}  // namespace lb::runtime
