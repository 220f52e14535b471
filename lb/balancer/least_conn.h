#pragma once
// least_conn: the eligible endpoint with the lowest load / weight, as nginx's
// least_conn module; endpoints tied for lowest share the pick by smooth
// weighted RR, so equal loads (e.g. an idle pool) spread by weight instead
// of all landing on the first endpoint.

#include <cstdint>
#include <vector>

#include "lb/balancer/balancer.h"

namespace lb::balancer {

class least_conn_balancer final : public balancer {
 public:
  // Thread: any (then owned by one worker). `count` endpoints.
  explicit least_conn_balancer(std::size_t count) : current_(count, 0) {}

  // Thread: owning worker. Ratios compare by cross-multiplication
  // (load_a * weight_b < load_b * weight_a, in 64 bits): no division, exact.
  // Returns -1 when none is eligible. At most two passes over count, no
  // allocation.
  int pick(const pick_request& r) override;

 private:
  std::vector<std::int64_t> current_;  // smooth-WRR credit among tied endpoints
};

}  // namespace lb::balancer
