#include "lb/control/memory_watch.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "lb/core/log.h"
#include "lb/runtime/memory.h"

// jemalloc's control interface, when jemalloc is the allocator (not in
// sanitizer builds): weak, so the same code links either way.
extern "C" int mallctl(const char* name, void* oldp, std::size_t* oldlenp, void* newp, std::size_t newlen)
    __attribute__((weak));

namespace lb::control {

namespace {

constexpr auto sample_interval = std::chrono::seconds(1);

// jemalloc hands freed pages back to the OS over ~10 s (its dirty decay);
// over the limit, waiting that long for memory already free would keep
// accepts paused for nothing: purge at once.
void purge_freed_pages() {
  if (!mallctl) return;
  mallctl("arena.4096.purge", nullptr, nullptr, nullptr, 0);  // 4096: MALLCTL_ARENAS_ALL
}

std::string mib(std::uint64_t bytes) { return std::to_string(bytes >> 20) + "MiB"; }

}  // namespace

memory_watch::memory_watch(boost::asio::io_context& io, std::function<std::uint64_t()> high)
    : timer_(io), high_(std::move(high)) {
  arm();
}

void memory_watch::stop() {
  stopped_ = true;
  timer_.cancel();
}

std::uint64_t memory_watch::resident_now() {
  const int fd = ::open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[128];
  const auto n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  unsigned long long size = 0, resident = 0;
  if (std::sscanf(buf, "%llu %llu", &size, &resident) != 2) return 0;
  return resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

void memory_watch::arm() {
  timer_.expires_after(sample_interval);
  timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopped_) return;
    sample();
    arm();
  });
}

void memory_watch::sample() {
  const std::uint64_t high = high_();
  if (high == 0) {
    if (over_) log::info("memory_high off: accepting again");
    over_ = false;
    runtime::memory::set_sample(0, false);
    return;
  }
  if (over_) purge_freed_pages();
  const auto resident = resident_now();
  // Hysteresis: over at memory_high, back under only below 90% of it, so lb
  // does not flap around the line.
  const bool over = over_ ? resident >= high / 10 * 9 : resident >= high;
  if (over != over_) {
    if (over)
      log::warn("memory over memory_high: accepts paused, idle connections closed",
                {{"resident", mib(resident)}, {"memory_high", mib(high)}});
    else
      log::info("memory back under memory_high: accepting again",
                {{"resident", mib(resident)}, {"memory_high", mib(high)}});
  }
  over_ = over;
  runtime::memory::set_sample(resident, over);
}

}  // namespace lb::control
