#include "lb/health/threshold.h"

#include <gtest/gtest.h>

namespace lb::health {
namespace {

TEST(threshold_state, starts_in_the_given_state) {
  EXPECT_TRUE(threshold_state(2, 3).healthy());
  EXPECT_TRUE(threshold_state(2, 3, true).healthy());
  EXPECT_FALSE(threshold_state(2, 3, false).healthy());
}

TEST(threshold_state, flips_after_exactly_n_consecutive_results) {
  threshold_state s(2, 3);
  EXPECT_FALSE(s.observe(false));
  EXPECT_TRUE(s.healthy());
  EXPECT_FALSE(s.observe(false));
  EXPECT_TRUE(s.healthy()) << "two failures of three";
  EXPECT_TRUE(s.observe(false)) << "the third failure flips";
  EXPECT_FALSE(s.healthy());

  EXPECT_FALSE(s.observe(false)) << "more failures do not flip again";
  EXPECT_FALSE(s.healthy());

  EXPECT_FALSE(s.observe(true));
  EXPECT_FALSE(s.healthy()) << "one success of two";
  EXPECT_TRUE(s.observe(true)) << "the second success flips";
  EXPECT_TRUE(s.healthy());
  EXPECT_FALSE(s.observe(true));
  EXPECT_TRUE(s.healthy());
}

TEST(threshold_state, an_agreeing_result_resets_the_streak) {
  threshold_state s(2, 3);
  // fail, fail, ok, fail, fail: never three in a row.
  for (bool r : {false, false, true, false, false}) EXPECT_FALSE(s.observe(r));
  EXPECT_TRUE(s.healthy());
  EXPECT_TRUE(s.observe(false));
  EXPECT_FALSE(s.healthy());

  // ok, fail, ok, fail: never two successes in a row.
  for (bool r : {true, false, true, false}) EXPECT_FALSE(s.observe(r));
  EXPECT_FALSE(s.healthy());
  EXPECT_FALSE(s.observe(true));
  EXPECT_TRUE(s.observe(true));
  EXPECT_TRUE(s.healthy());
}

TEST(threshold_state, a_flip_starts_a_new_streak) {
  threshold_state s(1, 2);
  EXPECT_FALSE(s.observe(false));
  EXPECT_TRUE(s.observe(false));
  // The failures before the flip do not count toward coming back up, nor
  // toward going down again after it.
  EXPECT_TRUE(s.observe(true));
  EXPECT_FALSE(s.observe(false));
  EXPECT_TRUE(s.healthy());
  EXPECT_TRUE(s.observe(false));
  EXPECT_FALSE(s.healthy());
}

TEST(threshold_state, threshold_one_flips_on_every_disagreeing_result) {
  threshold_state s(1, 1);
  EXPECT_TRUE(s.observe(false));
  EXPECT_FALSE(s.healthy());
  EXPECT_FALSE(s.observe(false));
  EXPECT_TRUE(s.observe(true));
  EXPECT_TRUE(s.healthy());
}

TEST(threshold_state, zero_thresholds_act_as_one) {
  threshold_state s(0, 0);
  EXPECT_EQ(s.healthy_threshold(), 1u);
  EXPECT_EQ(s.unhealthy_threshold(), 1u);
  EXPECT_TRUE(s.observe(false));
  EXPECT_TRUE(s.observe(true));
}

TEST(threshold_state, starting_unhealthy_needs_the_healthy_threshold) {
  threshold_state s(3, 1, false);
  EXPECT_FALSE(s.observe(true));
  EXPECT_FALSE(s.observe(true));
  EXPECT_TRUE(s.observe(true));
  EXPECT_TRUE(s.healthy());
}

}  // namespace
}  // namespace lb::health
