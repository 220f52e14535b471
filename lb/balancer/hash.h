#pragma once
// Deriving many well-spread values from one id hash, for ring points and
// Maglev permutations. Internal to lb/balancer.
//
// Why not XXH3 with the replica as seed: for short inputs (an id like "ep0"
// or "10.0.0.1:80") XXH3 xors the input with (secret + seed) before mixing,
// so ("ep0", seed 1) and ("ep1", seed 0) collide outright and one endpoint's
// points land on another's.

#include <cstdint>

namespace lb::balancer::detail {

// splitmix64's finalizer (Steele, Lea, Flood): a bijection on 64 bits whose
// outputs for inputs a fixed stride apart look independent. Fixed forever:
// it decides where every key goes.
constexpr std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// The i-th value of the sequence seeded by `base` (splitmix64's stream).
constexpr std::uint64_t nth(std::uint64_t base, std::uint64_t i) {
  return mix64(base + (i + 1) * 0x9e3779b97f4a7c15ull);
}

}  // namespace lb::balancer::detail
