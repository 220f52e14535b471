#include "lb/balancer/round_robin_balancer.h"

namespace lb::balancer {

int round_robin_balancer::pick(const pick_request& r) {
  const std::size_t n = r.count;
  const std::uint32_t* w = r.weight;
  return rr_.pick_weighted([n, w](std::size_t i) -> std::int64_t { return i < n ? w[i] : 0; });
}

}  // namespace lb::balancer
