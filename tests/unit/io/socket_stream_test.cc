#include "lb/io/socket_stream.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "tests/unit/io/run_coroutine.h"

namespace lb::io {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// One end of a socketpair behind a socket_stream, the other a raw descriptor
// the test reads and writes with plain syscalls.
struct pair_fixture : ::testing::Test {
  void SetUp() override {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    tcp::socket s(io);
    s.assign(tcp::v4(), fds[0]);
    stream = std::make_unique<socket_stream>(std::move(s));
    peer = fds[1];
  }
  void TearDown() override {
    if (peer >= 0) ::close(peer);
  }
  // Runs `f` as a coroutine to completion (at most 5 s).
  template <class F>
  void run(F f) {
    ASSERT_TRUE(test_support::run_coroutine(io, f));
  }

  asio::io_context io;
  std::unique_ptr<socket_stream> stream;
  int peer = -1;
};

TEST_F(pair_fixture, the_stream_is_non_blocking) {
  EXPECT_NE(::fcntl(stream->native_handle(), F_GETFL) & O_NONBLOCK, 0);
}

TEST_F(pair_fixture, read_takes_what_is_there_and_at_most_want) {
  ASSERT_EQ(::write(peer, "hello world", 11), 11);
  boost::beast::flat_buffer buf;
  run([&]() -> asio::awaitable<void> {
    EXPECT_FALSE(co_await stream->read(buf, 5, true));
    EXPECT_EQ(std::string(static_cast<const char*>(buf.data().data()), buf.size()), "hello");
    EXPECT_FALSE(co_await stream->read(buf, 100, false));  // queued, completes with the rest
    EXPECT_EQ(buf.size(), 11u);
  });
}

TEST_F(pair_fixture, read_waits_when_nothing_is_there_and_sees_end_of_stream) {
  boost::beast::flat_buffer buf;
  run([&]() -> asio::awaitable<void> {
    // Nothing yet: try_first would block, so it waits; the peer writes then closes.
    asio::post(io, [&] {
      ASSERT_EQ(::write(peer, "x", 1), 1);
      ::shutdown(peer, SHUT_WR);
    });
    EXPECT_FALSE(co_await stream->read(buf, 16, true));
    EXPECT_EQ(buf.size(), 1u);
    EXPECT_EQ(co_await stream->read(buf, 16, true), asio::error::eof);
  });
}

TEST_F(pair_fixture, write_sends_every_buffer_whole_past_the_socket_buffer) {
  // Far more than a socketpair buffers: the write must wait for writability
  // (the would-block path) while the peer drains it.
  const std::string head = "HEAD:";
  const std::string body(4 * 1024 * 1024, 'b');
  std::string received;
  std::thread reader([&] {
    char chunk[65536];
    while (received.size() < head.size() + body.size()) {
      const auto n = ::read(peer, chunk, sizeof chunk);
      if (n <= 0) break;
      received.append(chunk, static_cast<std::size_t>(n));
    }
  });
  run([&]() -> asio::awaitable<void> {
    buffer_seq bufs;
    bufs.push(asio::buffer(head));
    bufs.push(asio::buffer(body));
    EXPECT_FALSE(co_await stream->write(bufs));
  });
  reader.join();
  EXPECT_EQ(received.size(), head.size() + body.size());
  EXPECT_EQ(received.substr(0, 5), head);
  EXPECT_EQ(received.find_first_not_of('b', 5), std::string::npos);
}

TEST(buffer_seq, consume_drops_whole_buffers_then_part_of_one) {
  const std::string a = "abc", b = "defgh";
  buffer_seq seq;
  seq.push(asio::buffer(a));
  seq.push(asio::const_buffer());
  seq.push(asio::buffer(b));
  seq.consume(2);
  ASSERT_EQ(seq.size(), 3u);
  EXPECT_EQ(std::string(static_cast<const char*>(seq.data()[0].data()), seq.data()[0].size()), "c");
  seq.consume(1);  // "c" and the empty buffer go
  ASSERT_EQ(seq.size(), 1u);
  EXPECT_EQ(std::string(static_cast<const char*>(seq.data()[0].data()), seq.data()[0].size()), "defgh");
  EXPECT_FALSE(seq.empty());
  seq.consume(5);
  EXPECT_EQ(seq.size(), 0u);
  EXPECT_TRUE(seq.empty());
}

TEST_F(pair_fixture, write_now_settles_a_write_the_socket_takes_whole) {
  const std::string head = "HEAD ", body = "body";
  buffer_seq seq;
  seq.push(asio::buffer(head));
  seq.push(asio::buffer(body));
  error_code ec;
  EXPECT_TRUE(stream->write_now(seq, ec));
  EXPECT_FALSE(ec);
  EXPECT_TRUE(seq.empty());
  char got[16];
  ASSERT_EQ(::read(peer, got, sizeof got), 9);
  EXPECT_EQ(std::string(got, 9), "HEAD body");
}

TEST_F(pair_fixture, write_now_leaves_what_a_full_socket_did_not_take) {
  const std::string body(8 * 1024 * 1024, 'f');  // far past what the socketpair buffers
  buffer_seq seq(asio::buffer(body));
  error_code ec;
  EXPECT_FALSE(stream->write_now(seq, ec));  // the rest is write()'s, which waits for room
  EXPECT_FALSE(ec);
  ASSERT_EQ(seq.size(), 1u);
  EXPECT_GT(seq.data()[0].size(), 0u);
  EXPECT_LT(seq.data()[0].size(), body.size());
  EXPECT_EQ(static_cast<const char*>(seq.data()[0].data()), body.data() + (body.size() - seq.data()[0].size()));
}

TEST_F(pair_fixture, write_now_reports_a_broken_connection) {
  ::close(peer);
  peer = -1;
  const std::string msg = "lost";
  buffer_seq seq(asio::buffer(msg));
  error_code ec;
  EXPECT_TRUE(stream->write_now(seq, ec));
  EXPECT_TRUE(ec);
}

TEST_F(pair_fixture, shutdown_send_ends_the_peers_reads_but_not_ours) {
  stream->shutdown_send();
  char c;
  EXPECT_EQ(::read(peer, &c, 1), 0);  // FIN
  ASSERT_EQ(::write(peer, "y", 1), 1);
  boost::beast::flat_buffer buf;
  run([&]() -> asio::awaitable<void> { EXPECT_FALSE(co_await stream->read(buf, 4, true)); });
  EXPECT_EQ(buf.size(), 1u);
}

TEST_F(pair_fixture, cancel_aborts_a_pending_read) {
  boost::beast::flat_buffer buf;
  run([&]() -> asio::awaitable<void> {
    asio::post(io, [&] { stream->cancel(); });
    EXPECT_EQ(co_await stream->read(buf, 4, false), asio::error::operation_aborted);
  });
  EXPECT_TRUE(stream->is_open());
}

TEST_F(pair_fixture, release_hands_over_an_open_descriptor_and_adopt_takes_it_back) {
  const auto released = stream->release();
  ASSERT_GE(released.fd, 0);
  EXPECT_EQ(released.ssl, nullptr);  // a plain stream has no TLS session to hand over
  EXPECT_FALSE(stream->is_open());
  EXPECT_NE(::fcntl(released.fd, F_GETFD), -1);  // still open: parking owns it now
  auto back = resume_stream(io, released, asio::ip::make_address("127.0.0.1"));
  ASSERT_TRUE(back);
  ASSERT_EQ(::write(peer, "z", 1), 1);
  boost::beast::flat_buffer buf;
  run([&]() -> asio::awaitable<void> { EXPECT_FALSE(co_await back->read(buf, 4, true)); });
  EXPECT_EQ(buf.size(), 1u);
}

TEST_F(pair_fixture, wait_readable_fires_on_bytes_and_on_cancel) {
  bool readable = false;
  stream->wait_readable([&](error_code ec) { readable = !ec; });
  ASSERT_EQ(::write(peer, "r", 1), 1);
  io.run();
  io.restart();
  EXPECT_TRUE(readable);

  error_code got;
  stream->wait_readable([&](error_code ec) { got = ec; });
  boost::beast::flat_buffer drain;  // consume the byte so the socket is not readable
  char c;
  ASSERT_EQ(::recv(stream->native_handle(), &c, 1, 0), 1);
  stream->cancel();
  io.run();
  io.restart();
  EXPECT_EQ(got, asio::error::operation_aborted);
}

}  // namespace
}  // namespace lb::io
