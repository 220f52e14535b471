#pragma once
// round_robin: nginx's smooth weighted RR (round_robin.h) driven by the
// per-pick effective weights, so slow start and eligibility take effect on
// the next pick without rebuilding anything.

#include <cstdint>
#include <vector>

#include "lb/balancer/balancer.h"
#include "lb/balancer/round_robin.h"

namespace lb::balancer {

class round_robin_balancer final : public balancer {
 public:
  // Thread: any (then owned by one worker). `count` endpoints.
  explicit round_robin_balancer(std::size_t count)
      : rr_(std::vector<std::uint32_t>(count, 1)) {}

  // Thread: owning worker. Exact shares: over any run of picks in which the
  // effective weights stay put, endpoint i gets weight[i] of every
  // sum(weight) picks, spread out. An ineligible endpoint banks no credit.
  // Returns -1 when none is eligible. O(count), no allocation.
  int pick(const pick_request& r) override;

 private:
  round_robin rr_;
};

}  // namespace lb::balancer
