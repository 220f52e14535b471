#include "lb/balancer/ring_hash.h"

#include <algorithm>
#include <bit>
#include <numeric>
#include <stdexcept>

#include "lb/balancer/hash.h"

namespace lb::balancer {

hash_ring::hash_ring(const std::vector<std::uint32_t>& weights, const std::vector<std::string>& ids) {
  if (ids.size() != weights.size())
    throw std::invalid_argument("hash_ring: one id per endpoint expected");
  if (weights.size() > 0xffff)
    throw std::invalid_argument("hash_ring: more than 65535 endpoints");
  if (weights.empty()) {
    bucket_.assign(2, 0);
    shift_ = 31;
    return;
  }

  std::uint32_t g = 0;
  std::uint64_t units = 0;
  for (auto w : weights) g = std::gcd(g, std::max<std::uint32_t>(w, 1));
  for (auto w : weights) units += std::max<std::uint32_t>(w, 1) / g;
  std::uint64_t per_unit = points_per_unit;
  if (units * per_unit > max_points) per_unit = std::max<std::uint64_t>(max_points / units, 1);

  ring_.reserve(units * per_unit);
  for (std::size_t i = 0; i < weights.size(); ++i) {
    const std::uint64_t unit = std::max<std::uint32_t>(weights[i], 1) / g;
    const std::uint64_t n = std::max<std::uint64_t>(unit * per_unit, 1);
    // Replica r sits at the r-th value of the id's own sequence: a weight
    // change adds or drops points at the end, the others stay put.
    const std::uint64_t base = hash_key(ids[i]);
    for (std::uint64_t replica = 0; replica < n; ++replica) {
      const auto h = static_cast<std::uint32_t>(detail::nth(base, replica) >> 32);
      ring_.push_back({h, static_cast<std::uint16_t>(i)});
    }
  }
  // Ties (32-bit collisions) order by owner, so the ring is a pure function
  // of (weights, ids) on every worker and every lb instance.
  std::sort(ring_.begin(), ring_.end(), [](const point& a, const point& b) {
    return a.hash != b.hash ? a.hash < b.hash : a.owner < b.owner;
  });

  // 1-2 points per bucket.
  const int bits = std::max(1, static_cast<int>(std::bit_width(ring_.size())) - 1);
  shift_ = static_cast<unsigned>(32 - bits);
  bucket_.resize((std::size_t{1} << bits) + 1);
  std::size_t k = 0;
  for (std::size_t b = 0; b + 1 < bucket_.size(); ++b) {
    while (k < ring_.size() && (ring_[k].hash >> shift_) < b) ++k;
    bucket_[b] = static_cast<std::uint32_t>(k);
  }
  bucket_.back() = static_cast<std::uint32_t>(ring_.size());
  points_ = ring_.size();
  // Sentinel: lets pick() read one past the last point without a bounds
  // test. No key is above UINT32_MAX, so the scan never steps past it.
  ring_.push_back({UINT32_MAX, 0});
}

std::size_t hash_ring::points_of(std::size_t i) const {
  return static_cast<std::size_t>(std::count_if(
      ring_.begin(), ring_.begin() + points_, [i](const point& p) { return p.owner == i; }));
}

int hash_ring::pick(const pick_request& r) const {
  const std::size_t points = points_;
  if (points == 0) return -1;
  const auto key = static_cast<std::uint32_t>(r.hash >> 32);
  const std::size_t b = key >> shift_;
  std::size_t k = bucket_[b];
  const std::size_t end = bucket_[b + 1];
  // Buckets hold 0-2 points mostly: two steps without branches (a scan loop
  // mispredicts on every other key), then a loop for the rare full bucket.
  // ring_[k] for k <= points is readable thanks to the sentinel.
  k += (k < end) & (ring_[k].hash < key);
  k += (k < end) & (ring_[k].hash < key);
  while (k < end && ring_[k].hash < key) ++k;
  if (k == points) k = 0;

  // Clockwise to the first eligible owner.
  for (std::size_t step = 0; step < points; ++step) {
    const std::size_t owner = ring_[k].owner;
    if (owner < r.count && r.weight[owner] != 0) return static_cast<int>(owner);
    if (step == r.count && detail::first_eligible(r) < 0) return -1;
    if (++k == points) k = 0;
  }
  // Only an eligible endpoint beyond the ring's endpoints (r.count larger
  // than the build) is left.
  return detail::first_eligible(r);
}

}  // namespace lb::balancer
