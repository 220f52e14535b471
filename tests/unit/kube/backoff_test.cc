#include "lb/kube/backoff.h"

#include <gtest/gtest.h>

namespace lb::kube {
namespace {

using namespace std::chrono_literals;

TEST(kube_backoff, doubles_within_jitter_up_to_the_cap_and_resets) {
  backoff b({500ms, 30'000ms, 0.25}, 42);
  std::chrono::milliseconds nominal = 500ms;
  for (int i = 0; i < 200; ++i) {
    const auto d = b.next();
    EXPECT_LE(d, nominal) << i;
    EXPECT_GE(d.count(), static_cast<long>(static_cast<double>(nominal.count()) * 0.75) - 1) << i;
    nominal = std::min(nominal * 2, std::chrono::milliseconds(30'000));
  }
  EXPECT_EQ(b.attempts(), 200u);
  b.reset();
  EXPECT_LE(b.next(), 500ms);
}

TEST(kube_backoff, each_delay_exceeds_the_last_until_the_cap) {
  // With jitter under 50 %, a doubled delay always exceeds the one before:
  // what the integration test relies on to see the back-off grow.
  backoff b({100ms, 800ms, 0.25}, 7);
  auto last = b.next();
  for (int i = 0; i < 3; ++i) {
    const auto d = b.next();
    EXPECT_GT(d, last);
    last = d;
  }
}

TEST(kube_backoff, seeds_give_different_delays) {
  backoff a({1000ms, 30'000ms, 0.25}, 1), b({1000ms, 30'000ms, 0.25}, 2);
  int differ = 0;
  for (int i = 0; i < 5; ++i) differ += a.next() != b.next();
  EXPECT_GT(differ, 0);
}

}  // namespace
}  // namespace lb::kube
