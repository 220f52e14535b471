#include "lb/runtime/memory.h"

#include <atomic>
#include <cstddef>
#include <chrono>
#include <new>

#include "lb/core/log.h"

namespace lb::runtime::memory {
namespace {

// Rare events, counted from any thread: a relaxed RMW is cheap enough.
std::atomic<std::uint64_t> counts[static_cast<std::size_t>(plane::count)];

// Per thread: the last second a line was logged and the failures since.
thread_local std::int64_t logged_second = -1;
thread_local std::uint64_t unlogged = 0;

std::string_view digits(char* buf, std::size_t size, std::uint64_t v) {
  std::size_t i = size;
  do {
    buf[--i] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0 && i != 0);
  return {buf + i, size - i};
}

std::atomic<bool> over{false};
std::atomic<std::uint64_t> episodes{0};
std::atomic<std::uint64_t> resident{0};

}  // namespace

void note_failure(plane p) noexcept {
  counts[static_cast<std::size_t>(p)].fetch_add(1, std::memory_order_relaxed);
  ++unlogged;
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::steady_clock::now().time_since_epoch())
                       .count();
  if (now == logged_second) return;
  logged_second = now;
  char buf[24];
  // The line is formatted in the log's thread-local buffer, which may itself
  // need to grow: with no memory left the line is lost, the count is not.
  try {
    log::warn("out of memory: connection ended",
              {{"plane", plane_names[static_cast<std::size_t>(p)]}, {"failures", digits(buf, sizeof buf, unlogged)}});
    unlogged = 0;
  } catch (const std::bad_alloc&) {
  }
}

std::uint64_t failures(plane p) noexcept { return counts[static_cast<std::size_t>(p)].load(std::memory_order_relaxed); }

bool is_bad_alloc(const std::exception_ptr& e) noexcept {
  if (!e) return false;
  try {
    std::rethrow_exception(e);
  } catch (const std::bad_alloc&) {
    return true;
  } catch (...) {
    return false;
  }
}

void contain::operator()(std::exception_ptr e) const noexcept {
  if (!e) return;
  if (is_bad_alloc(e)) {
    note_failure(p);
    return;
  }
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    log::error("connection coroutine failed", {{"plane", plane_names[static_cast<std::size_t>(p)]}, {"error", x.what()}});
  } catch (...) {
    log::error("connection coroutine failed", {{"plane", plane_names[static_cast<std::size_t>(p)]}});
  }
}

void set_sample(std::uint64_t resident_bytes, bool on) noexcept {
  resident.store(resident_bytes, std::memory_order_relaxed);
  if (on && !over.load(std::memory_order_relaxed)) episodes.fetch_add(1, std::memory_order_relaxed);
  over.store(on, std::memory_order_relaxed);
}

bool overloaded() noexcept { return over.load(std::memory_order_relaxed); }
std::uint64_t overload_episodes() noexcept { return episodes.load(std::memory_order_relaxed); }
std::uint64_t resident_bytes() noexcept { return resident.load(std::memory_order_relaxed); }

}  // namespace lb::runtime::memory
