#pragma once
// The plain TCP implementation of io::stream over an Asio socket. Reads try a
// non-blocking read_some first when bytes are likely there and otherwise queue
// a read (Asio registers the descriptor once, edge-triggered, so a queued read
// costs no epoll_ctl; an async_wait would re-arm epoll each time) that knows
// when it drained the socket, so the read after it waits without trying
// (io/inq_read.h).
// Writes go out with a non-blocking writev first and wait for writability only
// on EAGAIN, so a write that fits the socket buffer needs no handler.

#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "lb/io/inq_read.h"
#include "lb/io/stream.h"

namespace lb::io {

class socket_stream final : public stream {
 public:
  using tcp = boost::asio::ip::tcp;

  // Thread: owning worker. Takes a connected socket and puts it in
  // non-blocking mode (a failure there is fatal: a worker must never block).
  explicit socket_stream(tcp::socket s);
  // Thread: owning worker. Takes back a released descriptor (parking) of a
  // connection with `peer` (whose family it is); returns nullptr, with `fd`
  // closed, when it cannot.
  static std::unique_ptr<socket_stream> adopt(boost::asio::io_context& io, int fd,
                                              const boost::asio::ip::address& peer);

  enum class wait_type { read, write };
  // Thread: owning worker. Waits until the descriptor is readable or
  // writable (for a layer above, such as TLS, that does its own syscalls).
  boost::asio::awaitable<error_code> wait(wait_type w);
  // Thread: owning worker. A stream yet to connect().
  explicit socket_stream(boost::asio::io_context& io) : sock_(io), reader_(sock_) {}
  // Thread: owning worker. Connects to `ep`; cancel() aborts it. Afterwards
  // the stream is non-blocking with TCP_NODELAY set (upstream connections
  // carry small heads that must not wait for an ACK).
  boost::asio::awaitable<error_code> connect(const tcp::endpoint& ep);

  boost::asio::awaitable<error_code> read(boost::beast::flat_buffer& buf, std::size_t want,
                                          bool try_first) override;
  boost::asio::awaitable<error_code> read_some(boost::asio::mutable_buffer b, std::size_t& n) override;
  boost::asio::awaitable<error_code> write(buffer_seq bufs) override;
  bool write_now(buffer_seq& bufs, error_code& ec) override;
  void shutdown_send() override;
  void cancel() override;
  void close() override;
  bool is_open() const override { return sock_.is_open(); }
  int native_handle() override { return sock_.native_handle(); }
  released release() override;
  void wait_readable(std::function<void(error_code)> h) override;

  // For a relay that knows its stream is plain (the TCP pump): read_some()
  // as an awaitable of the caller's own frame (`token`), no coroutine of its own.
  template <class Token>
  auto async_read_some(boost::asio::mutable_buffer b, Token&& token) {
    return reader_.async_read(sock_, b, std::forward<Token>(token));
  }

 private:
  tcp::socket sock_;
  inq_reader reader_;
};

}  // namespace lb::io
