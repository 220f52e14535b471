#pragma once
// least_request: power of two choices (Envoy's LeastRequest): draw two
// distinct eligible endpoints at random, weighted by effective weight, and
// keep the one with the lower load / weight. Close to least-loaded, but
// cheap and free of the herd effect of every worker picking the same
// "least" endpoint from slightly stale counts.

#include <cstdint>

#include "lb/balancer/balancer.h"
#include "lb/balancer/rng.h"

namespace lb::balancer {

class least_request_balancer final : public balancer {
 public:
  // Thread: any (then owned by one worker). `seed`: see balancer_snapshot::make.
  explicit least_request_balancer(std::uint64_t seed) : rng_(seed) {}

  // Thread: owning worker. With one eligible endpoint returns it; on equal
  // load / weight keeps the first draw, so in the steady state where load
  // follows weight the shares follow the weights. With loads {0,x,x,x} and
  // equal weights endpoint 0 wins whenever drawn: half the picks.
  // Returns -1 when none is eligible. At most three passes over count (sum,
  // two draws), no allocation.
  int pick(const pick_request& r) override;

 private:
  detail::rng rng_;
};

}  // namespace lb::balancer
