#pragma once
// A bound, listening socket that no io_context owns yet. The control thread
// binds (so a reload reports a bind error before anything switches); the
// worker that serves the socket registers it on its own thread, because a
// worker's reactor runs unlocked (BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO) and
// must never be touched from another thread.

#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace lb::listener {

class listen_socket {
 public:
  listen_socket(boost::asio::ip::tcp protocol, int fd) noexcept : protocol_(protocol), fd_(fd) {}
  listen_socket(listen_socket&& o) noexcept : protocol_(o.protocol_), fd_(o.fd_) { o.fd_ = -1; }
  listen_socket& operator=(listen_socket&& o) noexcept;
  listen_socket(const listen_socket&) = delete;
  listen_socket& operator=(const listen_socket&) = delete;
  ~listen_socket();

  // The bound address (port 0 resolved). Throws boost::system::system_error.
  boost::asio::ip::tcp::endpoint local_endpoint() const;

  // The descriptor, still owned (dup it to hand it to a new process).
  int native_handle() const { return fd_; }

  // Thread: the one running `io`. Hands the socket to an acceptor on `io`.
  boost::asio::ip::tcp::acceptor attach(boost::asio::io_context& io) &&;

 private:
  boost::asio::ip::tcp protocol_;
  int fd_;
};

// Thread: control (`scratch` is an io_context of that thread, used only while
// each socket is set up). Opens `count` listening sockets on `ep`, all with
// SO_REUSEPORT; port 0 is resolved by the first and reused by the others.
// Throws boost::system::system_error on failure.
// Thread: control. Takes over `fd`, a listening TCP socket a running lb
// handed over (binary upgrade). Throws boost::system::system_error (and
// closes `fd`) if it is not one.
listen_socket adopt_listening(int fd);

std::vector<listen_socket> bind_reuseport(boost::asio::io_context& scratch, unsigned count,
                                          boost::asio::ip::tcp::endpoint ep);

}  // namespace lb::listener
