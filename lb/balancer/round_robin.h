#pragma once
// Smooth weighted round robin (nginx ngx_http_upstream_get_peer): for weights
// {5,1,1} it yields a a b a c a a, spreading the heavy endpoint out instead of
// bursting it. One instance per worker per pool: never shared, never locked.

#include <cstdint>
#include <vector>

namespace lb::balancer {

class round_robin {
 public:
  explicit round_robin(const std::vector<std::uint32_t>& weights)
      : peers_(weights.size()) {
    for (std::size_t i = 0; i < weights.size(); ++i) peers_[i].weight = weights[i];
  }

  // Thread: owning worker. Picks among endpoints for which `eligible(i)` holds
  // (used to skip already-tried or unavailable endpoints). Returns -1 if none is.
  template <class Eligible>
  int pick(Eligible&& eligible) {
    int best = -1;
    std::int64_t total = 0;
    for (std::size_t i = 0; i < peers_.size(); ++i) {
      if (!eligible(i)) continue;
      auto& p = peers_[i];
      p.current += p.weight;
      total += p.weight;
      if (best < 0 || p.current > peers_[best].current) best = static_cast<int>(i);
    }
    if (best >= 0) peers_[best].current -= total;
    return best;
  }

  // Thread: owning worker. The same schedule over per-pick weights:
  // `weight_of(i)` is endpoint i's effective weight now (slow start changes
  // it between picks), 0 = ineligible. The configured weights are unused.
  // Returns -1 if every weight is 0.
  template <class WeightOf>
  int pick_weighted(WeightOf&& weight_of) {
    int best = -1;
    std::int64_t total = 0;
    for (std::size_t i = 0; i < peers_.size(); ++i) {
      const std::int64_t w = weight_of(i);
      if (w <= 0) continue;
      auto& p = peers_[i];
      p.current += w;
      total += w;
      if (best < 0 || p.current > peers_[best].current) best = static_cast<int>(i);
    }
    if (best >= 0) peers_[best].current -= total;
    return best;
  }

  int pick() {
    return pick([](std::size_t) { return true; });
  }

  std::size_t size() const { return peers_.size(); }

 private:
  struct peer {
    std::int64_t weight = 1;
    std::int64_t current = 0;
  };
  std::vector<peer> peers_;
};

}  // namespace lb::balancer
