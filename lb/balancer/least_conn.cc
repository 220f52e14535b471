#include "lb/balancer/least_conn.h"

#include <algorithm>

namespace lb::balancer {

int least_conn_balancer::pick(const pick_request& r) {
  const std::size_t n = std::min(r.count, current_.size());
  const std::uint32_t* w = r.weight;
  const std::uint32_t* load = r.load;
  auto load_of = [load](std::size_t i) -> std::uint64_t { return load ? load[i] : 0; };

  std::size_t best = n;
  bool many = false;
  for (std::size_t i = 0; i < n; ++i) {
    if (w[i] == 0) continue;
    if (best == n) {
      best = i;
      continue;
    }
    const std::uint64_t lhs = load_of(i) * w[best];
    const std::uint64_t rhs = load_of(best) * w[i];
    if (lhs < rhs) {
      best = i;
      many = false;
    } else if (lhs == rhs) {
      many = true;
    }
  }
  if (best == n) return -1;
  if (!many) return static_cast<int>(best);

  // Tied: smooth weighted RR among the endpoints at the lowest ratio (all of
  // them lie at or after `best`).
  const std::uint64_t best_load = load_of(best);
  const std::uint64_t best_weight = w[best];
  std::size_t chosen = n;
  std::int64_t total = 0;
  for (std::size_t i = best; i < n; ++i) {
    if (w[i] == 0 || load_of(i) * best_weight != best_load * w[i]) continue;
    current_[i] += w[i];
    total += w[i];
    if (chosen == n || current_[i] > current_[chosen]) chosen = i;
  }
  current_[chosen] -= total;
  return static_cast<int>(chosen);
}

}  // namespace lb::balancer
