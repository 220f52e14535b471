#pragma once
// The byte stream every plane reads and writes through: a client connection,
// an upstream connection, plain or (later) TLS. One indirect call per I/O
// operation (nginx's c->recv/c->send pointers, Envoy's TransportSocket,
// HAProxy's xprt_ops), never a template over the whole session.
//
// Economy: an implementation tries the operation first without waiting
// (non-blocking syscall) and waits for readiness only when it would block, so
// a read or write that the kernel can serve at once costs one syscall and no
// handler. Descriptors are always in non-blocking mode.
//
// How a TLS stream fits (OpenSSL straight over the descriptor, as nginx's
// ngx_ssl_recv/ngx_ssl_write do; not asio::ssl::stream, whose synchronous
// operations assume a blocking socket and which has no readiness wait):
// - read(): SSL_read into the buffer; SSL_ERROR_WANT_READ means "would block,
//   wait until readable", SSL_ERROR_WANT_WRITE (renegotiation, a pending
//   record) "wait until writable", then SSL_read again; SSL_ERROR_ZERO_RETURN
//   is end of stream; a plaintext byte count is what `read` commits.
// - write(): SSL_write over the buffers (gathered into records) with the same
//   WANT_* mapping; the whole sequence is written or an error returned.
// - shutdown_send(): SSL_shutdown (close_notify) then shutdown(SHUT_WR).
// - release(): hands over the descriptor for parking; a TLS stream parks its
//   SSL* beside it, its record buffers freed (SSL_free_buffers) so an idle
//   TLS connection keeps none.
// - wait_readable(): a TLS stream first consumes records that carry no
//   application data (TLS 1.3 NewSessionTicket after the handshake), so an
//   idle pooled upstream connection is not taken for dead.
// The session, the relays, the upstream pool and parking see only this
// interface, so none of them changes when a TLS stream is added.

#include <array>
#include <cstddef>
#include <functional>
#include <memory>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/system/error_code.hpp>

struct ssl_st;  // OpenSSL's SSL

namespace lb::io {

using boost::system::error_code;

// A stream given up for parking: its descriptor and, for TLS, the session
// (record buffers released). resume_stream() makes a stream of it again;
// discard() closes it.
struct released {
  int fd = -1;  // -1: nothing was released (the stream is closed)
  ssl_st* ssl = nullptr;
};

// The few buffers of one gathered write, held by value: the coroutine writing
// them owns them, so no caller needs a frame of its own just to keep them alive.
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
  // Drops the first `n` bytes (written already); emptied buffers leave the front.
  void consume(std::size_t n) {
    std::size_t first = 0;
    while (first < size_ && (n >= bufs_[first].size())) n -= bufs_[first++].size();
    if (first < size_) bufs_[first] += n;
    for (std::size_t i = first; i < size_; ++i) bufs_[i - first] = bufs_[i];
    size_ -= first;
  }
  std::size_t bytes() const {
    std::size_t n = 0;
    for (std::size_t i = 0; i < size_; ++i) n += bufs_[i].size();
    return n;
  }
  bool empty() const { return bytes() == 0; }
  void clear() { size_ = 0; }

 private:
  std::array<boost::asio::const_buffer, capacity> bufs_{};
  std::size_t size_ = 0;
};

// Thread: the owning worker, for every member. Completion errors follow
// Asio's: `eof` at end of stream, `operation_aborted` after cancel().
class stream {
 public:
  virtual ~stream() = default;

  // Reads at most `want` more bytes into `buf` (at least one, or an error).
  // `try_first`: bytes are likely there already, so read before waiting.
  virtual boost::asio::awaitable<error_code> read(boost::beast::flat_buffer& buf, std::size_t want,
                                                  bool try_first) = 0;
  // Reads what arrives next into `b`; `n` is set to the bytes read.
  virtual boost::asio::awaitable<error_code> read_some(boost::asio::mutable_buffer b, std::size_t& n) = 0;
  // Writes all of `bufs` (one gathered syscall when the kernel takes them).
  virtual boost::asio::awaitable<error_code> write(buffer_seq bufs) = 0;
  // Writes what the stream takes of `bufs` now, without waiting, and drops
  // it from `bufs`. True when that settled the write: all written, or `ec`
  // set. A stream that cannot (TLS) writes nothing and returns false. The
  // idiom, which costs no coroutine frame when the socket takes it all:
  //   if (!s.write_now(bufs, ec)) ec = co_await s.write(bufs);
  virtual bool write_now(buffer_seq&, error_code&) { return false; }

  // Ends the send direction (FIN after what is written); reading goes on.
  virtual void shutdown_send() = 0;
  // Makes every pending operation complete with operation_aborted.
  virtual void cancel() = 0;
  // Closes the stream; pending operations complete with operation_aborted.
  virtual void close() = 0;
  virtual bool is_open() const = 0;
  // The descriptor, for socket options (TCP_NODELAY); still owned by the stream.
  virtual int native_handle() = 0;
  // Whether bytes already read from the descriptor wait inside the stream
  // (TLS records decrypted past what was asked for): such a stream must not
  // be parked, as no readiness event would announce them.
  virtual bool has_buffered_input() const { return false; }
  // Whether the peer refused the request on this stream without processing
  // any of it (HTTP/2 REFUSED_STREAM, RFC 9113 §8.7): it may be sent again,
  // whatever its method.
  virtual bool unprocessed() const { return false; }
  // Frees the buffers a quiet connection does not need (TLS record buffers),
  // which the next read or write takes again: called when a connection goes
  // idle, so busy ones reuse theirs instead of a malloc and free per record.
  virtual void shed_buffers() {}
  // Gives the descriptor (and TLS session) up, for parking; the stream is
  // closed afterwards without closing them. `fd` is -1, with the stream
  // closed, when it cannot.
  virtual released release() = 0;
  // Calls `h` once the stream is readable (bytes, end of stream or an error)
  // or the wait is cancelled (operation_aborted): the idle pool's watch.
  virtual void wait_readable(std::function<void(error_code)> h) = 0;
};

// Sets TCP_NODELAY on `s`; failures are harmless (the option is a latency hint).
void set_no_delay(stream& s);
// The same, once per connection: `set` records that it was done.
inline void set_no_delay_once(stream& s, bool& set) {
  if (set) return;
  set_no_delay(s);
  set = true;
}
// Closes `s` abortively: SO_LINGER 0 makes the kernel send an RST, not a FIN,
// so a peer learns that the flow broke rather than ended (a TCP proxy passing
// a reset on). Queued unsent bytes are dropped.
void abort(stream& s);

}  // namespace lb::io

namespace boost::asio {
class io_context;
namespace ip {
class address;
}
}  // namespace boost::asio

namespace lb::io {

// Thread: owning worker. The stream `r` was released from, back on `io`
// (`peer`: the connection's peer, whose address family the socket has).
// nullptr, with `r` closed, when it cannot be.
std::unique_ptr<stream> resume_stream(boost::asio::io_context& io, released r, const boost::asio::ip::address& peer);

// Thread: any. Closes a released stream for good.
void discard(released r);

}  // namespace lb::io
