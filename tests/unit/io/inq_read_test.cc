// Reads that tell the reactor when they drained the socket (lb/io/inq_read.h),
// over real loopback TCP: TCP_INQ exists only for TCP.
#include "lb/io/inq_read.h"

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "lb/io/socket_stream.h"
#include "tests/unit/io/run_coroutine.h"

namespace lb::io {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// A loopback TCP connection: one end (TCP_INQ on, as lb's listeners set it)
// behind a socket_stream, the other a blocking socket the test drives.
struct tcp_pair : ::testing::Test {
  void SetUp() override {
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    ASSERT_TRUE(enable_inq(acceptor.native_handle()));
    client = tcp::socket(io);
    client.connect(acceptor.local_endpoint());
    stream = std::make_unique<socket_stream>(acceptor.accept());
  }
  // Waits until the stream's descriptor has something to read, so bytes and
  // FIN sent by the test are all queued before lb reads.
  void wait_queued() {
    ::pollfd p{stream->native_handle(), POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 5000), 1);
    std::this_thread::sleep_for(20ms);  // let a FIN sent right after the bytes land too
  }
  // Runs `f` as a coroutine to completion (at most 5 s).
  template <class F>
  void run(F f) {
    ASSERT_TRUE(test_support::run_coroutine(io, f)) << "a read waited for an event that never came";
  }
  void send(const std::string& s) { ASSERT_EQ(::send(client.native_handle(), s.data(), s.size(), 0), ssize_t(s.size())); }

  asio::io_context io;
  tcp::socket client{io};
  std::unique_ptr<socket_stream> stream;
};

TEST_F(tcp_pair, accepted_sockets_inherit_tcp_inq_from_the_listener) {
  int on = 0;
  socklen_t len = sizeof on;
  ASSERT_EQ(::getsockopt(stream->native_handle(), SOL_TCP, TCP_INQ, &on, &len), 0);
  EXPECT_EQ(on, 1);
}

// The FIN came with the last bytes: one edge announced both, and the read
// queued on epoll took it. A read that took the bytes and called the socket
// drained would leave the next one waiting for an edge that never comes;
// TCP_INQ reports the pending FIN (1), so the next read is tried at once.
TEST_F(tcp_pair, bytes_and_a_fin_that_arrived_together_are_both_read) {
  bool finished = false;
  std::string got;
  error_code second;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    char buf[64];
    std::size_t n = 0;
    EXPECT_FALSE(co_await stream->read_some(asio::buffer(buf), n));
    got.assign(buf, n);
    second = co_await stream->read_some(asio::buffer(buf), n);
    finished = true;
  }, asio::detached);
  io.poll();  // the first read finds nothing and is queued on epoll
  ASSERT_FALSE(finished);
  send("hello");
  ::shutdown(client.native_handle(), SHUT_WR);
  wait_queued();  // both queued before epoll is asked again: one event for the two
  io.run_for(5s);
  ASSERT_TRUE(finished) << "the read after the bytes waited for an event that never came";
  EXPECT_EQ(got, "hello");
  EXPECT_EQ(second, asio::error::eof);
}

// A read that drained the socket leaves the next one queued on epoll: the
// bytes sent afterwards still complete it (the edge is not lost).
TEST_F(tcp_pair, a_read_after_a_drained_socket_completes_when_bytes_come) {
  send("one");
  wait_queued();
  run([&]() -> asio::awaitable<void> {
    char buf[64];
    std::size_t n = 0;
    EXPECT_FALSE(co_await stream->read_some(asio::buffer(buf), n));
    EXPECT_EQ(std::string(buf, n), "one");
    asio::post(io, [&] { send("two"); });
    EXPECT_FALSE(co_await stream->read_some(asio::buffer(buf), n));
    EXPECT_EQ(std::string(buf, n), "two");
  });
}

// A read smaller than what is queued leaves bytes behind (TCP_INQ > 0): the
// next read takes them at once, with no new edge to wait for.
TEST_F(tcp_pair, bytes_left_queued_are_read_without_a_new_event) {
  send("abcdefgh");
  wait_queued();
  run([&]() -> asio::awaitable<void> {
    char buf[4];
    std::size_t n = 0;
    std::string got;
    for (int i = 0; i < 2; ++i) {
      EXPECT_FALSE(co_await stream->read_some(asio::buffer(buf), n));
      got.append(buf, n);
    }
    EXPECT_EQ(got, "abcdefgh");
  });
}

// The socket_stream fast path a relay uses: the same read, as an awaitable of
// the caller's own frame.
TEST_F(tcp_pair, the_direct_read_sees_bytes_then_end_of_stream) {
  send("xyz");
  ::shutdown(client.native_handle(), SHUT_WR);
  wait_queued();
  run([&]() -> asio::awaitable<void> {
    char buf[64];
    error_code ec;
    auto n = co_await stream->async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
    EXPECT_FALSE(ec);
    EXPECT_EQ(std::string(buf, n), "xyz");
    n = co_await stream->async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
    EXPECT_EQ(ec, asio::error::eof);
    EXPECT_EQ(n, 0u);
  });
}

TEST_F(tcp_pair, cancel_aborts_a_queued_read) {
  run([&]() -> asio::awaitable<void> {
    char buf[8];
    std::size_t n = 0;
    asio::post(io, [&] { stream->cancel(); });
    EXPECT_EQ(co_await stream->read_some(asio::buffer(buf), n), asio::error::operation_aborted);
  });
}

TEST_F(tcp_pair, write_now_takes_what_fits_and_never_blocks) {
  const std::string big(8 << 20, 'w');
  error_code ec;
  buffer_seq seq(asio::buffer(big));
  stream->write_now(seq, ec);
  const auto n = big.size() - seq.bytes();
  EXPECT_FALSE(ec);
  EXPECT_GT(n, 0u);
  EXPECT_LT(n, big.size());  // nobody reads: the socket buffer fills, and it returns
}

}  // namespace
}  // namespace lb::io
