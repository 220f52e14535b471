#pragma once
// Retry delays for one resource stream: doubling from `initial` up to `max`,
// each scaled by a random factor in [1 - jitter, 1] so that many lb replicas
// that lost the API server together do not come back in step (client-go's
// wait.Backoff with jitter does the same). A success resets it.

#include <chrono>
#include <cstdint>
#include <random>

namespace lb::kube {

struct backoff_policy {
  std::chrono::milliseconds initial{500};
  std::chrono::milliseconds max{30'000};
  double jitter = 0.25;  // in [0, 1)
};

class backoff {
 public:
  backoff(backoff_policy p, std::uint64_t seed) : policy_(p), rng_(seed) {}

  // Thread: the owner's. The delay before the next attempt; grows the next one.
  // Always within [initial * (1 - jitter), max].
  std::chrono::milliseconds next();
  // Thread: the owner's. After a success: the next delay is `initial` again.
  void reset() { attempt_ = 0; }
  unsigned attempts() const { return attempt_; }

 private:
  backoff_policy policy_;
  std::mt19937_64 rng_;
  unsigned attempt_ = 0;
};

}  // namespace lb::kube
