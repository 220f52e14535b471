#include "tests/unit/alloc_count.h"

#include <cstdlib>
#include <new>

namespace {
thread_local std::size_t counted = 0;
}

namespace lb::test {
std::size_t allocations() noexcept { return counted; }
}  // namespace lb::test

#if LB_COUNT_ALLOCATIONS
// libstdc++'s nothrow and array forms call these two, so replacing them is enough.
void* operator new(std::size_t n) {
  ++counted;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
// g++ inlines these into callers and then flags new/free as mismatched; they
// are a matched pair by construction here.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop
#endif
