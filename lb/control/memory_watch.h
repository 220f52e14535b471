#pragma once
// `limits.memory_high`: samples lb's resident memory once a second on the
// control thread and tells the workers (runtime::memory::set_sample) when lb
// goes over it and when it is back under 90% of it, logging each transition
// once. Resident memory comes from /proc/self/statm: it counts everything
// (jemalloc's arenas, thread stacks, OpenSSL's and nghttp2's own mallocs),
// and one read a second costs nothing.

#include <cstdint>
#include <functional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

namespace lb::control {

class memory_watch {
 public:
  // Thread: control. `high` returns the running config's memory_high (0: off),
  // read at every sample so a reload takes effect within a second.
  memory_watch(boost::asio::io_context& io, std::function<std::uint64_t()> high);

  void stop();

  // Thread: any. lb's resident set in bytes now (0 if /proc cannot be read).
  static std::uint64_t resident_now();

 private:
  void arm();
  void sample();

  boost::asio::steady_timer timer_;
  std::function<std::uint64_t()> high_;
  bool over_ = false;
  bool stopped_ = false;
};

}  // namespace lb::control
