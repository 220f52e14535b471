#include "lb/io/socket_stream.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <new>
#include <span>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "lb/core/fatal.h"
#include "lb/io/inq_read.h"

namespace lb::io {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

void set_no_delay(stream& s) {
  const int one = 1;
  ::setsockopt(s.native_handle(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

void abort(stream& s) {
  const ::linger hard{1, 0};
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
  s.close();
}

socket_stream::socket_stream(tcp::socket s) : sock_(std::move(s)), reader_(sock_) {
  error_code ec;
  sock_.non_blocking(true, ec);
  if (ec) fatal("non-blocking mode on a client socket", ec);
}

std::unique_ptr<socket_stream> socket_stream::adopt(asio::io_context& io, int fd, const asio::ip::address& peer) {
  tcp::socket sock(io);
  error_code ec;
  // Out of memory the descriptor is closed either way: here, or by `sock`
  // once it owns it.
  try {
    sock.assign(peer.is_v6() ? tcp::v6() : tcp::v4(), fd, ec);
  } catch (const std::bad_alloc&) {
    ::close(fd);
    throw;
  }
  if (ec) {
    ::close(fd);
    return nullptr;
  }
  return std::make_unique<socket_stream>(std::move(sock));
}

asio::awaitable<error_code> socket_stream::connect(const tcp::endpoint& ep) {
  error_code ec;
  co_await sock_.async_connect(ep, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return ec;
  error_code ignored;
  sock_.set_option(tcp::no_delay(true), ignored);
  enable_inq(sock_.native_handle());
  sock_.non_blocking(true, ec);
  if (ec) fatal("non-blocking mode on an upstream socket", ec);
  co_return ec;
}

asio::awaitable<error_code> socket_stream::read(boost::beast::flat_buffer& buf, std::size_t want, bool try_first) {
  error_code ec;
  if (try_first) {
    const auto n = sock_.read_some(buf.prepare(want), ec);
    if (ec != asio::error::would_block) {
      buf.commit(n);
      co_return ec;
    }
    ec = {};
  }
  const auto n = co_await reader_.async_read(sock_, buf.prepare(want), asio::redirect_error(asio::use_awaitable, ec));
  buf.commit(n);
  co_return ec;
}

asio::awaitable<error_code> socket_stream::read_some(asio::mutable_buffer b, std::size_t& n) {
  error_code ec;
  n = co_await reader_.async_read(sock_, b, asio::redirect_error(asio::use_awaitable, ec));
  co_return ec;
}

bool socket_stream::write_now(buffer_seq& seq, error_code& ec) {
  for (auto left = seq.bytes(); left != 0;) {
    // One buffer goes out with send(), cheaper than building sendmsg()'s iovec.
    const auto n = seq.size() == 1 ? sock_.write_some(seq.data()[0], ec)
                                   : sock_.write_some(std::span<const asio::const_buffer>(seq.data(), seq.size()), ec);
    if (ec == asio::error::would_block) {
      ec = {};
      return false;
    }
    if (ec) return true;
    if (n == left) break;  // the usual case: all taken, nothing to shift
    seq.consume(n);
    left -= n;
  }
  seq.clear();
  return true;
}

asio::awaitable<error_code> socket_stream::write(buffer_seq seq) {
  error_code ec;
  while (!write_now(seq, ec)) {
    co_await sock_.async_wait(tcp::socket::wait_write, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return ec;
  }
  co_return ec;
}

void socket_stream::shutdown_send() {
  error_code ignored;
  sock_.shutdown(tcp::socket::shutdown_send, ignored);
}

void socket_stream::cancel() {
  error_code ignored;
  sock_.cancel(ignored);
}

void socket_stream::close() {
  error_code ignored;
  sock_.close(ignored);
}

released socket_stream::release() {
  error_code ec;
  const int fd = sock_.release(ec);
  if (ec) {
    close();
    return {};
  }
  return {fd, nullptr};
}

asio::awaitable<error_code> socket_stream::wait(wait_type w) {
  error_code ec;
  co_await sock_.async_wait(w == wait_type::read ? tcp::socket::wait_read : tcp::socket::wait_write,
                            asio::redirect_error(asio::use_awaitable, ec));
  co_return ec;
}

void socket_stream::wait_readable(std::function<void(error_code)> h) {
  sock_.async_wait(tcp::socket::wait_read, std::move(h));
}

}  // namespace lb::io
