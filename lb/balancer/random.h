#pragma once
// random: weighted random among the eligible endpoints. Stateless apart from
// the RNG, so many workers (or lb instances) picking at once do not fall into
// step the way independent round-robin cursors can.

#include <cstdint>

#include "lb/balancer/balancer.h"
#include "lb/balancer/rng.h"

namespace lb::balancer {

class random_balancer final : public balancer {
 public:
  // Thread: any (then owned by one worker). `seed`: see balancer_snapshot::make.
  explicit random_balancer(std::uint64_t seed) : rng_(seed) {}

  // Thread: owning worker. Endpoint i with probability weight[i] / sum(weight).
  // Returns -1 when none is eligible. Two passes over count, no allocation.
  int pick(const pick_request& r) override;

 private:
  detail::rng rng_;
};

}  // namespace lb::balancer
