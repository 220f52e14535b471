#pragma once
// A small, fast pseudo-random generator for identifiers (request IDs, trace
// and span IDs): one per worker, so no lock and no syscall per draw. It is
// wyrand (Wang Yi's wyhash PRNG: a 64-bit Weyl sequence through a 128-bit
// multiply-fold), seeded from the OS. Not for secrets: its output is
// predictable to anyone who sees enough of it.

#include <sys/random.h>

#include <chrono>
#include <cstdint>

namespace lb {

class fast_rng {
 public:
  // Seeded from getrandom(); the clock stands in should that ever fail.
  fast_rng() {
    std::uint64_t s = 0;
    if (::getrandom(&s, sizeof s, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof s))
      s = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
          reinterpret_cast<std::uintptr_t>(&s);
    state_ = s;
  }
  explicit fast_rng(std::uint64_t seed) : state_(seed) {}

  std::uint64_t next() {
    state_ += 0xa0761d6478bd642fULL;
    const unsigned __int128 t = static_cast<unsigned __int128>(state_) * (state_ ^ 0xe7037ed1a0b428dbULL);
    return static_cast<std::uint64_t>(t >> 64) ^ static_cast<std::uint64_t>(t);
  }

 private:
  std::uint64_t state_;
};

}  // namespace lb
