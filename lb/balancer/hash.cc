#include "lb/balancer/balancer.h"

// Inlined into this file: hash_key runs once per request, and XXH3 on a short
// key is a few ns, less than a call through the shared library's PLT.
#define XXH_INLINE_ALL
#include <xxhash.h>

namespace lb::balancer {

std::uint64_t hash_key(std::string_view key) { return XXH3_64bits(key.data(), key.size()); }

}  // namespace lb::balancer
