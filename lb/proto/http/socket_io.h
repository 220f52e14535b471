#pragma once
// Socket I/O for the HTTP plane. Writes go out with a non-blocking syscall
// first and wait for writability only on EAGAIN, so a write that fits the
// socket buffer needs no handler. Reads use async_read_some, not a readiness
// wait: Asio re-arms epoll (epoll_ctl) on every async_wait, while a queued read
// costs no syscall. The sockets must be in non-blocking mode.

#include <array>
#include <cstdint>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "lb/proto/http/rewrite.h"

namespace lb::proto::http {

// Thread: worker. Reads at most `want` more bytes into `buf`. `try_first`
// reads synchronously first, for when bytes are likely there already.
boost::asio::awaitable<boost::system::error_code> read_more(boost::asio::ip::tcp::socket& s,
                                                            boost::beast::flat_buffer& buf, std::size_t want,
                                                            bool try_first);

// The few buffers of one writev, held by value: the coroutine writing them
// owns them, so no caller needs a frame of its own just to keep them alive.
class buffer_seq {
 public:
  static constexpr std::size_t capacity = 5;

  buffer_seq() = default;
  // Implicit: one buffer is a sequence.
  buffer_seq(boost::asio::const_buffer b) { push(b); }    // NOLINT(google-explicit-constructor)
  buffer_seq(boost::asio::mutable_buffer b) { push(b); }  // NOLINT(google-explicit-constructor)

  void push(boost::asio::const_buffer b) { bufs_[size_++] = b; }
  boost::asio::const_buffer* data() { return bufs_.data(); }
  std::size_t size() const { return size_; }

 private:
  std::array<boost::asio::const_buffer, capacity> bufs_{};
  std::size_t size_ = 0;
};

// Thread: worker. Writes `bufs` completely (one writev when the socket takes them).
boost::asio::awaitable<boost::system::error_code> write_all(boost::asio::ip::tcp::socket& s, buffer_seq bufs);

// Thread: worker. Writes one piece of a body in `f`'s framing, preceded by
// `head` when set (so a small message leaves in one writev) and followed by
// the last-chunk when `last`.
boost::asio::awaitable<boost::system::error_code> write_piece(boost::asio::ip::tcp::socket& s,
                                                              const std::string* head, framing f, const char* data,
                                                              std::size_t n, bool last);

}  // namespace lb::proto::http
