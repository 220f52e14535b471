#include "lb/runtime/memory.h"

#include <gtest/gtest.h>

#include <utility>  // ahead of awaitable.hpp (Boost 1.74 misses it)

#include <new>
#include <stdexcept>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace lb::runtime::memory {
namespace {

namespace asio = boost::asio;

TEST(memory, is_bad_alloc_tells_bad_alloc_from_other_exceptions) {
  EXPECT_FALSE(is_bad_alloc(nullptr));
  EXPECT_TRUE(is_bad_alloc(std::make_exception_ptr(std::bad_alloc())));
  EXPECT_TRUE(is_bad_alloc(std::make_exception_ptr(std::bad_array_new_length())));
  EXPECT_FALSE(is_bad_alloc(std::make_exception_ptr(std::runtime_error("bug"))));
}

TEST(memory, contain_counts_a_coroutine_that_ran_out_of_memory_and_the_loop_goes_on) {
  asio::io_context io;
  const auto before = failures(plane::tcp);
  const auto other_before = failures(plane::h2);
  bool released = false;
  bool later_ran = false;
  struct guard {
    bool& released;
    ~guard() { released = true; }
  };
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        guard g{released};
        co_await asio::post(io, asio::use_awaitable);
        throw std::bad_alloc();
      },
      contain{plane::tcp});
  asio::post(io, [&] { asio::post(io, [&] { later_ran = true; }); });
  io.run();  // nothing escapes into the loop
  EXPECT_TRUE(released) << "the coroutine's frame unwound";
  EXPECT_TRUE(later_ran);
  EXPECT_EQ(failures(plane::tcp), before + 1);
  EXPECT_EQ(failures(plane::h2), other_before);
}

TEST(memory, contain_does_not_count_other_exceptions) {
  asio::io_context io;
  const auto before = failures(plane::stage);
  asio::co_spawn(
      io, []() -> asio::awaitable<void> { throw std::logic_error("a bug, logged"); co_return; },
      contain{plane::stage});
  io.run();
  EXPECT_EQ(failures(plane::stage), before);
}

TEST(memory, overload_episodes_count_transitions_not_samples) {
  const auto before = overload_episodes();
  set_sample(100, true);
  set_sample(120, true);
  EXPECT_TRUE(overloaded());
  EXPECT_EQ(resident_bytes(), 120u);
  set_sample(80, false);
  EXPECT_FALSE(overloaded());
  set_sample(130, true);
  set_sample(0, false);
  EXPECT_EQ(overload_episodes(), before + 2);
}

}  // namespace
}  // namespace lb::runtime::memory
