#include "lb/kube/backoff.h"

#include <algorithm>

namespace lb::kube {

std::chrono::milliseconds backoff::next() {
  // Doubling stops once past max: no overflow however long the outage.
  double base = static_cast<double>(policy_.initial.count());
  for (unsigned i = 0; i < attempt_ && base < static_cast<double>(policy_.max.count()); ++i) base *= 2;
  base = std::min(base, static_cast<double>(policy_.max.count()));
  ++attempt_;
  std::uniform_real_distribution<double> scale(1.0 - policy_.jitter, 1.0);
  return std::chrono::milliseconds(static_cast<std::int64_t>(base * scale(rng_)));
}

}  // namespace lb::kube
