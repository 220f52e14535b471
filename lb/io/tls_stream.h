#pragma once
// io::stream over TLS: OpenSSL straight on the descriptor (SSL_set_fd), as
// nginx's ngx_ssl_recv/ngx_ssl_write do. SSL_read/SSL_write run first;
// SSL_ERROR_WANT_READ/WANT_WRITE become a readiness wait on the socket, then
// the call is repeated. No memory BIO, so no copy of the ciphertext.

#include <memory>
#include <string>

#include "lb/io/socket_stream.h"

namespace lb::io {

class tls_stream final : public stream {
 public:
  // Thread: owning worker. Takes `raw` (a connected socket) and `ssl` (set
  // up for the server or client side, not yet attached to a descriptor).
  tls_stream(std::unique_ptr<socket_stream> raw, ssl_st* ssl);
  ~tls_stream() override;

  // Thread: owning worker. Runs the handshake to its end; cancel() aborts it.
  boost::asio::awaitable<error_code> handshake();
  ssl_st* ssl() const { return ssl_; }
  // The OpenSSL error behind the last failure (for counting why), or 0.
  unsigned long last_error() const { return last_error_; }

  boost::asio::awaitable<error_code> read(boost::beast::flat_buffer& buf, std::size_t want,
                                          bool try_first) override;
  boost::asio::awaitable<error_code> read_some(boost::asio::mutable_buffer b, std::size_t& n) override;
  boost::asio::awaitable<error_code> write(buffer_seq bufs) override;
  void shutdown_send() override;
  void cancel() override { raw_->cancel(); }
  void close() override;
  bool is_open() const override { return raw_->is_open(); }
  int native_handle() override { return raw_->native_handle(); }
  bool has_buffered_input() const override;
  void shed_buffers() override;
  released release() override;
  // Records that carry no application data (a TLS 1.3 NewSessionTicket or
  // KeyUpdate reaching an idle pooled connection) are consumed and the wait
  // goes on: only data, an end or an error completes it. The stream must
  // outlive the wait (the idle pool's handler owns the connection).
  void wait_readable(std::function<void(error_code)> h) override;

 private:
  // Waits for what the last SSL call asked for; an error for any other outcome.
  boost::asio::awaitable<error_code> after(int ret);
  // Reads at most `n` plaintext bytes into `p`; `got` is what was read.
  boost::asio::awaitable<error_code> read_into(void* p, std::size_t n, std::size_t& got);

  std::unique_ptr<socket_stream> raw_;
  ssl_st* ssl_;
  // Small pieces of one write (a head and a body) leave as one record, not
  // one each: gathered here, reused across writes.
  std::string gather_;
  unsigned long last_error_ = 0;
  bool failed_ = false;  // a protocol error or reset: the session must not be resumed
};

}  // namespace lb::io
