#pragma once
// nghttp2's allocator for one session. It notes where the session's frame
// buffer lives (16 KiB, allocated with the session and only scratch between
// frames), so that an idle connection can give those pages back to the
// kernel: they are most of what an idle HTTP/2 connection holds.

#include <nghttp2/nghttp2.h>

#include <cstddef>

namespace lb::proto::h2 {

class codec_memory {
 public:
  codec_memory();
  codec_memory(const codec_memory&) = delete;
  codec_memory& operator=(const codec_memory&) = delete;

  // For nghttp2_session_*_new3; nghttp2 keeps a pointer to this object.
  nghttp2_mem* mem() { return &mem_; }
  // Around the session's creation: its large allocation then is the frame buffer.
  void capture(bool on) { capturing_ = on; }

  // Thread: the session's; never inside an nghttp2 call. The frame buffer's
  // whole pages go back to the kernel (MADV_DONTNEED): they read as zeros and
  // cost a page fault each when the next frame is built. Returns the bytes released.
  std::size_t release_idle_pages();

 private:
  void note(void* p, std::size_t size);
  static void* allocate(std::size_t size, void* self);
  static void release(void* ptr, void* self);
  static void* allocate_zeroed(std::size_t n, std::size_t size, void* self);
  static void* reallocate(void* ptr, std::size_t size, void* self);

  nghttp2_mem mem_;
  bool capturing_ = false;
  void* frame_buf_ = nullptr;
  std::size_t frame_len_ = 0;
};

}  // namespace lb::proto::h2
