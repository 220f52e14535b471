#pragma once
// Heap allocation counting for "makes no allocation" tests of hot-path code.
// alloc_count.cc replaces the global operator new, except under ASan, whose
// own must stay in place to check every other test of this binary.

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#define LB_COUNT_ALLOCATIONS 0
#else
#define LB_COUNT_ALLOCATIONS 1
#endif

namespace lb::test {
// Allocations made by the calling thread so far.
std::size_t allocations() noexcept;
}  // namespace lb::test
