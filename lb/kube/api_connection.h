#pragma once
// One HTTPS connection to the API server (Beast over OpenSSL): connect with
// the server's certificate checked against the credentials' CA and name (an
// IP literal server is checked by IP), then GET requests with the bearer
// token. A LIST reads a whole (bounded) body; a WATCH reads the head and
// then hands over the body piece by piece as it streams in.

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "lb/kube/credentials.h"

namespace lb::kube {

// Thread: any. The TLS client context for `c`: its CA (the system's when
// empty), peer verification on, TLS 1.2 at least, its client certificate
// when given. nullopt with `why` on a bad PEM.
std::optional<boost::asio::ssl::context> make_tls_context(const credentials& c, std::string& why);

class api_connection {
 public:
  using error_code = boost::system::error_code;

  // Thread: the io_context's. `ctx` and `c` outlive the connection.
  api_connection(boost::asio::io_context& io, boost::asio::ssl::context& ctx, const credentials& c);

  // Thread: the io_context's. Resolves, connects and handshakes within
  // `timeout`. On failure `why` says what failed (for a certificate: the
  // OpenSSL verify error, e.g. "unable to get local issuer certificate").
  boost::asio::awaitable<error_code> connect(std::chrono::milliseconds timeout, std::string& why);

  // Thread: the io_context's. GET `target` and read the whole response
  // (body at most `body_limit` bytes) within `timeout`. `res` holds it.
  boost::asio::awaitable<error_code> get(const std::string& target, const std::string& token, std::size_t body_limit,
                                         std::chrono::seconds timeout,
                                         boost::beast::http::response<boost::beast::http::string_body>& res);

  // Thread: the io_context's. `method` `target` with `body` (of type
  // `content_type`; none when empty) and read the whole response (body at
  // most `body_limit` bytes) within `timeout`: the writes (PATCH, POST, PUT).
  // The connection may carry another request after it when
  // `res.keep_alive()`.
  boost::asio::awaitable<error_code> request(boost::beast::http::verb method, const std::string& target,
                                             const std::string& token, const std::string& content_type,
                                             std::string body, std::size_t body_limit, std::chrono::milliseconds timeout,
                                             boost::beast::http::response<boost::beast::http::string_body>& res);

  // Thread: the io_context's. GET `target` and read only the response head
  // (within `timeout`); `status` is its code. The body follows with read_some.
  boost::asio::awaitable<error_code> start_stream(const std::string& target, const std::string& token,
                                                  std::chrono::seconds timeout, unsigned& status);
  // Thread: the io_context's. The next body bytes received (waiting at most
  // `idle` for any): `data` points into the connection's buffer until the
  // next call. `done` is set when the response ended cleanly.
  boost::asio::awaitable<error_code> read_some(std::chrono::seconds idle, std::string_view& data, bool& done);

  // Thread: the io_context's. Ends any operation in progress (it completes
  // with an error) and closes the socket; idempotent.
  void close();

 private:
  void prepare(boost::beast::http::request<boost::beast::http::empty_body>& req, const std::string& target,
               const std::string& token) const;

  const credentials& creds_;
  boost::asio::ssl::stream<boost::beast::tcp_stream> stream_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::response_parser<boost::beast::http::buffer_body>> stream_parser_;
  char body_buf_[16384];
  // close() ran: a connect still resolving must not open a new socket.
  bool closed_ = false;
};

}  // namespace lb::kube
