#pragma once
// A monotonic arena over one borrowed block, and a std-style allocator on it,
// so the fields of a parsed message cost no malloc/free each (Beast's
// fields_alloc idea). Allocations that do not fit fall back to the heap.

#include <cstddef>
#include <new>

namespace lb {

class arena {
 public:
  arena(char* block, std::size_t size) : base_(block), size_(size) {}
  arena(const arena&) = delete;
  arena& operator=(const arena&) = delete;

  void* allocate(std::size_t n, std::size_t align) {
    const std::size_t at = (used_ + align - 1) & ~(align - 1);
    if (at + n <= size_) {
      used_ = at + n;
      return base_ + at;
    }
    return ::operator new(n);
  }

  void deallocate(void* p, std::size_t) {
    // Arena memory is reclaimed all at once when the block is returned.
    if (!owns(p)) ::operator delete(p);
  }

  bool owns(const void* p) const {
    auto* c = static_cast<const char*>(p);
    return c >= base_ && c < base_ + size_;
  }

 private:
  char* base_;
  std::size_t size_;
  std::size_t used_ = 0;
};

template <class T>
class arena_allocator {
 public:
  using value_type = T;

  explicit arena_allocator(arena& a) noexcept : arena_(&a) {}
  template <class U>
  arena_allocator(const arena_allocator<U>& o) noexcept : arena_(o.arena_) {}

  T* allocate(std::size_t n) { return static_cast<T*>(arena_->allocate(n * sizeof(T), alignof(T))); }
  void deallocate(T* p, std::size_t n) noexcept { arena_->deallocate(p, n * sizeof(T)); }

  template <class U>
  bool operator==(const arena_allocator<U>& o) const noexcept {
    return arena_ == o.arena_;
  }
  template <class U>
  bool operator!=(const arena_allocator<U>& o) const noexcept {
    return arena_ != o.arena_;
  }

 private:
  template <class U>
  friend class arena_allocator;
  arena* arena_;
};

}  // namespace lb
