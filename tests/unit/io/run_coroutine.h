#pragma once
// Test helper: runs a coroutine on an io_context until it finishes, for at
// most `limit` (a read waiting for an event that never comes fails the test
// instead of hanging it).

#include <chrono>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

namespace lb::io::test_support {

// Returns whether `f()` (returning awaitable<void>) ran to its end.
template <class F>
bool run_coroutine(boost::asio::io_context& io, F f, std::chrono::seconds limit = std::chrono::seconds(5)) {
  bool finished = false;
  boost::asio::co_spawn(io, [&]() -> boost::asio::awaitable<void> {
    co_await f();
    finished = true;
  }, boost::asio::detached);
  io.run_for(limit);
  io.restart();
  return finished;
}

}  // namespace lb::io::test_support
