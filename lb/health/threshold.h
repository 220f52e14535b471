#pragma once
// The rise/fall state machine of one endpoint's active checks: N consecutive
// results against the current state flip it (Pingora `observe_health`,
// HAProxy `rise`/`fall` in src/check.c). A result that agrees with the
// current state resets the streak, so interleaved results never flip.

#include <cstdint>

namespace lb::health {

class threshold_state {
 public:
  // Thread: any (an instance then belongs to one thread). `healthy_threshold`
  // consecutive successes bring an unhealthy endpoint up; `unhealthy_threshold`
  // consecutive failures take a healthy one down. A threshold of 0 acts as 1.
  threshold_state(std::uint32_t healthy_threshold, std::uint32_t unhealthy_threshold,
                  bool initially_healthy = true);

  // Feeds one check result. Returns true when this result flips the state
  // (then `healthy()` is the new state), false otherwise.
  bool observe(bool success);

  bool healthy() const { return healthy_; }

  std::uint32_t healthy_threshold() const { return healthy_threshold_; }
  std::uint32_t unhealthy_threshold() const { return unhealthy_threshold_; }

 private:
  std::uint32_t healthy_threshold_;
  std::uint32_t unhealthy_threshold_;
  std::uint32_t streak_ = 0;  // consecutive results that disagree with `healthy_`
  bool healthy_;
};

}  // namespace lb::health
