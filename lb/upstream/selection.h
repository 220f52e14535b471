#pragma once
// Choosing an endpoint from live pool state, and feeding results back
// (passive outlier detection). Runs on workers per request: no locks, no
// allocation; the pool's live objects are shared atomics.

#include <cstdint>
#include <vector>

#include "lb/upstream/pool_snapshot.h"
#include "lb/upstream/worker_pool.h"

namespace lb::upstream {

// Endpoints already tried for one request (nginx's `tried` bitmap); no
// allocation for pools of up to 64 endpoints.
class tried_set {
 public:
  explicit tried_set(std::size_t n) {
    if (n > 64) big_.resize(n);
  }
  bool test(std::size_t i) const { return big_.empty() ? (small_ >> i) & 1 : big_[i]; }
  void set(std::size_t i) {
    if (test(i)) return;
    if (big_.empty()) small_ |= std::uint64_t{1} << i;
    else big_[i] = true;
    ++count_;
  }
  bool any() const { return count_ != 0; }
  std::size_t count() const { return count_; }

 private:
  std::uint64_t small_ = 0;
  std::vector<bool> big_;
  std::size_t count_ = 0;
};

struct pick_result {
  enum class outcome { picked, all_tried, none_healthy, all_full };
  outcome result = outcome::picked;
  std::size_t index = 0;
};

// Thread: any. The weight a pick uses now, x100: `configured` ramped from
// 10% to 100% over `slow_start` since the endpoint last (re)joined.
std::uint32_t effective_weight(std::uint32_t configured, const endpoint_live& e, std::int64_t now,
                               clock::duration slow_start);

// Thread: worker. Eligible = healthy, not ejected, not tried, and under
// max_connections_per_endpoint. Weights ramp up over slow_start after an
// endpoint (re)joins.
pick_result pick(const pool_snapshot& pool, worker_pool& wp, const tried_set& tried,
                 std::uint64_t hash, clock::time_point now);

// Thread: worker. Whether endpoint `i` can take a request now: what pick()
// asks of a candidate (untried, healthy, not ejected, under
// max_connections_per_endpoint), for one chosen otherwise (affinity).
bool available(const pool_snapshot& pool, worker_pool& wp, const tried_set& tried, std::size_t i,
               clock::time_point now);

// Thread: worker. A connect failure, reset or 5xx counts against the
// endpoint; `outlier.consecutive_failures` in a row eject it for
// base_ejection x (times ejected, up to 10), unless max_ejected_percent of
// the pool is ejected already. Any other answer resets the streak.
void record(const pool_snapshot& pool, std::size_t index, bool failure, clock::time_point now);

}  // namespace lb::upstream
