#include "lb/health/threshold.h"

#include <algorithm>

namespace lb::health {

threshold_state::threshold_state(std::uint32_t healthy_threshold, std::uint32_t unhealthy_threshold,
                                 bool initially_healthy)
    : healthy_threshold_(std::max<std::uint32_t>(healthy_threshold, 1)),
      unhealthy_threshold_(std::max<std::uint32_t>(unhealthy_threshold, 1)),
      healthy_(initially_healthy) {}

bool threshold_state::observe(bool success) {
  if (success == healthy_) {
    streak_ = 0;
    return false;
  }
  if (++streak_ < (healthy_ ? unhealthy_threshold_ : healthy_threshold_)) return false;
  healthy_ = !healthy_;
  streak_ = 0;
  return true;
}

}  // namespace lb::health
