#pragma once
// Running out of memory on a worker (issue 14 item 8): an allocation that
// fails while serving one connection ends that connection only; the worker's
// loop, its pools and every other connection carry on. Each containment point
// counts the failure here (lb_memory_errors_total{plane}) and the log gets at
// most one line per second per worker, however many connections fail.
//
// Only std::bad_alloc is contained: any other exception is a bug and keeps
// the handling it had (logged by the connection's completion, or fatal).

#include <cstdint>
#include <exception>
#include <string_view>

namespace lb::runtime::memory {

// Where the allocation failed: the stage or plane of the connection it ended,
// or `worker` when it escaped a handler into the event loop itself.
enum class plane : std::uint8_t { accept, stage, http1, h2, tcp, worker, count };
inline constexpr const char* plane_names[] = {"accept", "stage", "http1", "h2", "tcp", "worker"};

// Thread: any worker (or any thread). Counts one failure under `p` and logs it
// (rate-limited per thread). Never allocates, never throws.
void note_failure(plane p) noexcept;

// Thread: any. Failures so far under `p` (all workers).
std::uint64_t failures(plane p) noexcept;

// Thread: any. Whether `e` holds a std::bad_alloc (false for null).
bool is_bad_alloc(const std::exception_ptr& e) noexcept;

// A co_spawn completion for a connection's helper coroutine: bad_alloc is
// counted under `p`; any other exception is logged as the bug it is.
struct contain {
  plane p;
  void operator()(std::exception_ptr e) const noexcept;
};

// --- overload guard (`limits.memory_high`) -----------------------------------
// The control thread samples lb's resident memory once a second; past
// memory_high lb is overloaded until it drops below 90% of it. Meanwhile
// workers accept no connection and close idle ones (Envoy's overload
// manager: stop_accepting_connections, disable_http_keepalive).

// Thread: control. Records the latest sample and whether lb is over.
void set_sample(std::uint64_t resident_bytes, bool over) noexcept;
// Thread: any: a relaxed load, cheap enough for every accept and park.
bool overloaded() noexcept;
// Thread: any. Times lb went over memory_high; the last resident sample (0 when off).
std::uint64_t overload_episodes() noexcept;
std::uint64_t resident_bytes() noexcept;

}  // namespace lb::runtime::memory
