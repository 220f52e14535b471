// jemalloc's settings for lb, read by jemalloc at its start (the `malloc_conf`
// symbol; an operator's MALLOC_CONF is read after it and wins).
//
// An HTTP/2 connection keeps up to 100 streams in flight, and a worker with
// ten such clients holds a thousand of each per-stream object at once: the
// stream, its coroutine frames, nghttp2's stream state, the upstream request.
// jemalloc's default thread cache holds at most 200 objects of a size and
// garbage-collects a size class every 64 KiB allocated, so under that load
// most allocations refill the cache from the arena, under its lock, and most
// frees flush back to it. Measured (callgrind, h2load -m100 over TLS, one
// worker): 35.7k instructions a request with the defaults, 33.4k with these;
// 33.6k and 32.9k at -m10. What the bigger cache keeps is freed memory of
// small sizes, bounded per size class, and given back by the same GC.
extern "C" {
// NOLINTNEXTLINE(readability-identifier-naming): jemalloc's name for it.
const char* malloc_conf = "tcache_nslots_small_max:1024,lg_tcache_nslots_mul:3,tcache_gc_incr_bytes:8388608";
}
