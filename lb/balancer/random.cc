#include "lb/balancer/random.h"

namespace lb::balancer {

int random_balancer::pick(const pick_request& r) {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < r.count; ++i) total += r.weight[i];
  if (total == 0) return -1;
  return static_cast<int>(detail::weighted_index(r.weight, r.count, rng_.below(total)));
}

}  // namespace lb::balancer
