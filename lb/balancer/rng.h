#pragma once
// Per-balancer randomness and the weighted draw shared by `random` and
// `least_request`. Internal to lb/balancer.

#include <cstddef>
#include <cstdint>

#include "lb/balancer/hash.h"

namespace lb::balancer::detail {

// xoshiro256** (Blackman & Vigna): a few cycles per draw, 256-bit state, and
// reproducible from a seed, which the tests need. Not for secrets.
class rng {
 public:
  // Thread: any (the instance then belongs to one thread). Expands the seed
  // with splitmix64, so nearby seeds (worker ids 0, 1, 2...) diverge at once.
  explicit rng(std::uint64_t seed) {
    for (std::size_t k = 0; k < 4; ++k) s_[k] = nth(seed, k);
  }

  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, bound) for bound > 0, by Lemire's multiply-shift: no
  // division, and a bias below bound / 2^64 (nil for weight sums).
  std::uint64_t below(std::uint64_t bound) {
    __extension__ using u128 = unsigned __int128;
    return static_cast<std::uint64_t>((static_cast<u128>(next()) * bound) >> 64);
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
};

// The endpoint i (with w[i] > 0, i != skip) where the running sum of weights,
// taken in index order and leaving out `skip`, first exceeds `x`.
// Pre: x < the sum of w[0..n) without w[skip]. O(n), no allocation.
inline std::size_t weighted_index(const std::uint32_t* w, std::size_t n, std::uint64_t x,
                                  std::size_t skip = static_cast<std::size_t>(-1)) {
  std::size_t last = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (i == skip || w[i] == 0) continue;
    if (x < w[i]) return i;
    x -= w[i];
    last = i;
  }
  return last;  // unreachable when the precondition holds
}

}  // namespace lb::balancer::detail
