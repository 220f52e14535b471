#pragma once
// maglev: Google's Maglev consistent hashing (NSDI '16; Envoy MaglevTable,
// Katran CHHelpers). A prime-sized table is filled by letting endpoints take
// turns claiming their next free slot along a private permutation; a key is
// table[hash % size]. Lookup is one load, the table shares follow the
// weights to within a slot per turn, and removing one of N endpoints remaps
// little more than its own 1/N of the keys.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "lb/balancer/balancer.h"

namespace lb::balancer {

// The lookup table: immutable once built, shared by all workers' balancers
// of one pool snapshot (128 KiB).
class maglev_table {
 public:
  // Prime, so every permutation step visits every slot; Envoy's default.
  // Much larger than the endpoint count (100x+), which keeps both the weight
  // error and the disruption on changes small.
  static constexpr std::size_t size = 65537;

  // Thread: control. `ids` (distinct, one per weight) seed each endpoint's
  // permutation (offset, skip); a weight of 0 counts as 1. Turns go in
  // proportion to weight, as in Envoy: endpoint i claims a slot in round t
  // when t * w_i >= (claims so far) * max(w). Throws std::invalid_argument if
  // the sizes differ or there are more than 65535 endpoints.
  maglev_table(const std::vector<std::uint32_t>& weights, const std::vector<std::string>& ids);

  // Thread: any (const). table[r.hash % size] if that endpoint is eligible;
  // otherwise probes table[(hash + k * step) % size] for k = 1, 2, ... with
  // a step drawn from the hash, so an ineligible endpoint's keys spread over
  // the others in proportion to their shares, and no other key moves.
  // Returns -1 when none is eligible. O(1) expected (1 / eligible share
  // probes); a probe run longer than `count` first checks, in O(count), that
  // some endpoint is eligible at all. No allocation.
  int pick(const pick_request& r) const;

  // Thread: any. Slots owned by endpoint i (for tests and diagnostics).
  std::size_t slots_of(std::size_t i) const;
  // Thread: any. The owner of slot s < size, or -1 if the table is empty.
  int owner(std::size_t s) const { return endpoints_ ? table_[s] : -1; }

 private:
  std::vector<std::uint16_t> table_;  // `size` owners; empty with no endpoints
  std::size_t endpoints_ = 0;
};

class maglev_balancer final : public balancer {
 public:
  // Thread: any (then owned by one worker).
  explicit maglev_balancer(std::shared_ptr<const maglev_table> table) : table_(std::move(table)) {}

  // Thread: owning worker. See maglev_table::pick.
  int pick(const pick_request& r) override { return table_->pick(r); }

 private:
  std::shared_ptr<const maglev_table> table_;
};

}  // namespace lb::balancer
