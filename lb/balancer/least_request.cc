#include "lb/balancer/least_request.h"

namespace lb::balancer {

int least_request_balancer::pick(const pick_request& r) {
  const std::size_t n = r.count;
  const std::uint32_t* w = r.weight;
  std::uint64_t total = 0;
  std::size_t eligible = 0;
  for (std::size_t i = 0; i < n; ++i) {
    total += w[i];
    eligible += w[i] != 0;
  }
  if (eligible == 0) return -1;
  const std::size_t a = detail::weighted_index(w, n, rng_.below(total));
  if (eligible == 1) return static_cast<int>(a);
  if (r.load == nullptr) return static_cast<int>(a);  // all idle: every pair ties
  const std::size_t b = detail::weighted_index(w, n, rng_.below(total - w[a]), a);
  // load_b / w_b < load_a / w_a, without division.
  const std::uint64_t lb = std::uint64_t{r.load[b]} * w[a];
  const std::uint64_t la = std::uint64_t{r.load[a]} * w[b];
  return static_cast<int>(lb < la ? b : a);
}

}  // namespace lb::balancer
