#include "lb/io/tls_stream.h"

#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <new>

#include <boost/asio/error.hpp>
#include <boost/asio/ip/address.hpp>

namespace lb::io {

namespace asio = boost::asio;
using asio::awaitable;

namespace {

// One TLS record's worth: gathering more would only delay the first bytes.
constexpr std::size_t max_gather = 16 * 1024;

}  // namespace

tls_stream::tls_stream(std::unique_ptr<socket_stream> raw, ssl_st* ssl) : raw_(std::move(raw)), ssl_(ssl) {
  SSL_set_fd(ssl_, raw_->native_handle());
}

tls_stream::~tls_stream() {
  if (!ssl_) return;
  if (raw_->is_open()) close();
  SSL_free(ssl_);
}

void tls_stream::close() {
  // close_notify on a clean end: OpenSSL drops a session from the cache when
  // its connection ends without one, and peers see a truncation otherwise.
  // One non-blocking write; if the socket cannot take it, so be it.
  if (ssl_ && !failed_ && raw_->is_open() && SSL_is_init_finished(ssl_)) {
    ERR_clear_error();
    SSL_shutdown(ssl_);
    ERR_clear_error();
  }
  raw_->close();
}

awaitable<error_code> tls_stream::after(int ret) {
  switch (SSL_get_error(ssl_, ret)) {
    case SSL_ERROR_WANT_READ: co_return co_await raw_->wait(socket_stream::wait_type::read);
    case SSL_ERROR_WANT_WRITE: co_return co_await raw_->wait(socket_stream::wait_type::write);
    case SSL_ERROR_ZERO_RETURN: co_return asio::error::eof;  // close_notify
    case SSL_ERROR_SYSCALL:
      // The peer closed without close_notify (common for HTTP clients that
      // are done): the end of the stream, as over plain TCP.
      if (ERR_peek_error() == 0) co_return asio::error::eof;
      [[fallthrough]];
    default:
      failed_ = true;
      last_error_ = ERR_peek_error();
      ERR_clear_error();
      co_return asio::error::connection_reset;
  }
}

awaitable<error_code> tls_stream::handshake() {
  for (;;) {
    ERR_clear_error();
    const int r = SSL_do_handshake(ssl_);
    if (r == 1) co_return error_code{};
    // A peer that closes mid-handshake is a failed handshake, not an end.
    if (SSL_get_error(ssl_, r) == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
      co_return asio::error::connection_aborted;
    if (const auto ec = co_await after(r)) co_return ec;
  }
}

awaitable<error_code> tls_stream::read_into(void* p, std::size_t n, std::size_t& got) {
  for (;;) {
    ERR_clear_error();
    const int r = SSL_read_ex(ssl_, p, n, &got);
    if (r == 1) co_return error_code{};
    got = 0;
    if (const auto ec = co_await after(r)) co_return ec;
  }
}

awaitable<error_code> tls_stream::read(boost::beast::flat_buffer& buf, std::size_t want, bool) {
  // SSL_read first whatever the hint: plaintext may be buffered already.
  const auto space = buf.prepare(want);
  std::size_t got = 0;
  const auto ec = co_await read_into(space.data(), space.size(), got);
  buf.commit(got);
  co_return ec;
}

awaitable<error_code> tls_stream::read_some(asio::mutable_buffer b, std::size_t& n) {
  co_return co_await read_into(b.data(), b.size(), n);
}

awaitable<error_code> tls_stream::write(buffer_seq seq) {
  const asio::const_buffer* bufs = seq.data();
  const std::size_t count = seq.size();
  std::size_t total = 0;
  for (std::size_t i = 0; i < count; ++i) total += bufs[i].size();
  // Several small pieces: one record. The gathered bytes stay put until
  // SSL_write succeeds, as a retry after WANT_WRITE needs the same bytes.
  asio::const_buffer one;
  const asio::const_buffer* pieces = bufs;
  std::size_t npieces = count;
  if (count > 1 && total <= max_gather) {
    gather_.clear();
    for (std::size_t i = 0; i < count; ++i) gather_.append(static_cast<const char*>(bufs[i].data()), bufs[i].size());
    one = asio::buffer(gather_);
    pieces = &one;
    npieces = 1;
  }
  for (std::size_t i = 0; i < npieces; ++i) {
    const char* p = static_cast<const char*>(pieces[i].data());
    std::size_t left = pieces[i].size();
    while (left != 0) {
      ERR_clear_error();
      std::size_t n = 0;
      const int r = SSL_write_ex(ssl_, p, left, &n);
      if (r == 1) {
        p += n;
        left -= n;
        continue;
      }
      if (const auto ec = co_await after(r)) co_return ec;
    }
  }
  co_return error_code{};
}

void tls_stream::shutdown_send() {
  // close_notify, then FIN: the peer sees a clean end of the TLS stream.
  ERR_clear_error();
  SSL_shutdown(ssl_);
  ERR_clear_error();
  raw_->shutdown_send();
}

bool tls_stream::has_buffered_input() const { return SSL_has_pending(ssl_) == 1; }

// OpenSSL refuses (returns 0) while a record is half read or written; the
// buffers then stay, which is only memory.
void tls_stream::shed_buffers() {
  if (ssl_) (void)SSL_free_buffers(ssl_);
}

void tls_stream::wait_readable(std::function<void(error_code)> h) {
  raw_->wait_readable([this, h = std::move(h)](error_code ec) mutable {
    if (ec || !ssl_) return h(ec);
    // SSL_peek processes whatever records arrived without taking any data.
    char b;
    std::size_t n = 0;
    ERR_clear_error();
    const int r = SSL_peek_ex(ssl_, &b, 1, &n);
    if (r != 1 && SSL_get_error(ssl_, r) == SSL_ERROR_WANT_READ) {
      ERR_clear_error();
      wait_readable(std::move(h));
      return;
    }
    ERR_clear_error();
    h(ec);  // data, close_notify, EOF or an error: the connection is not idle any more
  });
}

released tls_stream::release() {
  shed_buffers();
  auto r = raw_->release();
  if (r.fd < 0) return {};
  r.ssl = std::exchange(ssl_, nullptr);
  return r;
}

std::unique_ptr<stream> resume_stream(asio::io_context& io, released r, const asio::ip::address& peer) {
  // Out of memory (adopt closes the descriptor) the SSL goes too.
  std::unique_ptr<socket_stream> raw;
  try {
    raw = socket_stream::adopt(io, r.fd, peer);
    if (raw && r.ssl) return std::make_unique<tls_stream>(std::move(raw), r.ssl);
  } catch (const std::bad_alloc&) {
    if (r.ssl) SSL_free(r.ssl);
    throw;
  }
  if (!raw && r.ssl) SSL_free(r.ssl);
  return raw;
}

void discard(released r) {
  if (r.ssl) {
    // A parked connection ends cleanly (idle timeout, drain): close_notify,
    // so its session stays resumable.
    ERR_clear_error();
    SSL_shutdown(r.ssl);
    ERR_clear_error();
    SSL_free(r.ssl);
  }
  if (r.fd >= 0) ::close(r.fd);
}

}  // namespace lb::io
