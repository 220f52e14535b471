#pragma once
// Seeded form of `hash_key` (balancer.h), for placing ring points and Maglev
// permutations. Internal to lb/balancer.

#include <cstdint>
#include <string_view>

namespace lb::balancer::detail {

// Thread: any. XXH3-64 of `data` with `seed`: stable across processes,
// machines and xxHash releases >= 0.8.
std::uint64_t hash_seeded(std::string_view data, std::uint64_t seed);

}  // namespace lb::balancer::detail
