#pragma once
// ip_hash / ring_hash: ketama-style consistent hashing (nginx `hash ...
// consistent`, Envoy RingHash). Each endpoint puts points on a 32-bit ring,
// hashed from its stable id and a replica number; a key goes to the owner of
// the first point at or after its hash. Removing an endpoint (or marking it
// ineligible) moves only the keys on its arcs, each to the next eligible
// point clockwise; every other key stays where it was.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "lb/balancer/balancer.h"

namespace lb::balancer {

// The ring itself: immutable once built, shared by all workers' balancers of
// one pool snapshot.
class hash_ring {
 public:
  // Points per unit of normalized weight (weight / gcd of all weights). A
  // fixed count, not a share of a fixed ring size, so an endpoint's points
  // do not change when another endpoint comes or goes. 1024 points give an
  // endpoint its weight's share of keys to within ~3% (1 / sqrt(1024)), at
  // 8 bytes a point (10 equal endpoints: 80 KiB, plus 32 KiB of index).
  // nginx uses 160 per weight; Envoy 1024 per ring by default.
  static constexpr std::size_t points_per_unit = 1024;
  // Above this many points the count per unit is scaled down (pools with
  // very uneven weights, e.g. {1, 999, 1000}); each endpoint keeps >= 1.
  static constexpr std::size_t max_points = std::size_t{1} << 18;

  // Thread: control. `ids` (distinct, one per weight) place the points;
  // a weight of 0 counts as 1. Throws std::invalid_argument if the sizes
  // differ or there are more than 65535 endpoints.
  hash_ring(const std::vector<std::uint32_t>& weights, const std::vector<std::string>& ids);

  // Thread: any (const). The owner of the first point at or after r.hash's
  // top 32 bits, walking clockwise past points of ineligible endpoints.
  // Returns -1 when none is eligible. O(1) expected: a bucket index finds the
  // point (1-2 candidates), then the walk takes 1 / (eligible share of the
  // ring) steps on average; a walk longer than `count` points first checks,
  // in O(count), that some endpoint is eligible at all. No allocation.
  int pick(const pick_request& r) const;

  std::size_t points() const { return points_; }
  // Thread: any. Points owned by endpoint i (for tests and diagnostics).
  std::size_t points_of(std::size_t i) const;

 private:
  // Position and owner side by side: a lookup touches one cache line, not two.
  struct point {
    std::uint32_t hash;
    std::uint16_t owner;
  };
  std::vector<point> ring_;  // sorted by hash (then owner), then a sentinel
  std::size_t points_ = 0;   // ring_.size() without the sentinel
  // bucket_[b] = first k with ring_[k].hash >> shift_ >= b; 2^bits + 1
  // entries, 1-2 points per bucket, so a lookup is one load and a short scan.
  std::vector<std::uint32_t> bucket_;
  unsigned shift_ = 32;
};

class ring_hash_balancer final : public balancer {
 public:
  // Thread: any (then owned by one worker).
  explicit ring_hash_balancer(std::shared_ptr<const hash_ring> ring) : ring_(std::move(ring)) {}

  // Thread: owning worker. See hash_ring::pick.
  int pick(const pick_request& r) override { return ring_->pick(r); }

 private:
  std::shared_ptr<const hash_ring> ring_;
};

}  // namespace lb::balancer
