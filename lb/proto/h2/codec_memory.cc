#include "lb/proto/h2/codec_memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>

namespace lb::proto::h2 {

namespace {
// nghttp2's frame buffer is a frame header plus a 16 KiB payload; nothing
// else it allocates with a session is this large.
constexpr std::size_t frame_buffer_min = 16384;
}  // namespace

codec_memory::codec_memory() : mem_{this, &allocate, &release, &allocate_zeroed, &reallocate} {}

void codec_memory::note(void* p, std::size_t size) {
  if (p && capturing_ && !frame_buf_ && size >= frame_buffer_min) {
    frame_buf_ = p;
    frame_len_ = size;
  }
}

void* codec_memory::allocate(std::size_t size, void* self) {
  void* p = std::malloc(size);
  static_cast<codec_memory*>(self)->note(p, size);
  return p;
}

void codec_memory::release(void* ptr, void* self) {
  auto& m = *static_cast<codec_memory*>(self);
  if (ptr && ptr == m.frame_buf_) m.frame_buf_ = nullptr;
  std::free(ptr);
}

void* codec_memory::allocate_zeroed(std::size_t n, std::size_t size, void*) { return std::calloc(n, size); }

void* codec_memory::reallocate(void* ptr, std::size_t size, void* self) {
  auto& m = *static_cast<codec_memory*>(self);
  void* p = std::realloc(ptr, size);
  if (!ptr) {
    m.note(p, size);  // nghttp2's buffers start as a realloc of nothing
  } else if (p && ptr == m.frame_buf_) {
    m.frame_buf_ = p;
    m.frame_len_ = size;
  }
  return p;
}

std::size_t codec_memory::release_idle_pages() {
  if (!frame_buf_) return 0;
  // Only whole pages inside the buffer: its first and last may be shared.
  static const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<std::uintptr_t>(frame_buf_);
  const auto first = (begin + page - 1) & ~(page - 1);
  const auto last = (begin + frame_len_) & ~(page - 1);
  if (last <= first) return 0;
  if (::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED) != 0) return 0;
  return last - first;
}

}  // namespace lb::proto::h2
