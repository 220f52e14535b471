// One accepted connection of lb-backend: HTTP/1.x keep-alive, pipelining,
// streamed bodies and the WebSocket echo.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/system/error_code.hpp>

#include "params.h"

namespace lb::backend {

// Process-wide state shared by every connection (and every thread).
struct server_state {
  std::string name;
  std::string backend_header;  // preformatted "X-Backend: NAME\r\n"
  std::optional<std::uint64_t> drop_request_after;
  std::optional<std::uint64_t> max_requests_per_conn;

  // Relaxed atomics: they are only ever read for /__stats, never to order
  // other memory.
  std::atomic<std::uint64_t> connections{0};
  std::atomic<std::uint64_t> active_connections{0};
  std::atomic<std::uint64_t> requests{0};
};

class session : public std::enable_shared_from_this<session> {
 public:
  session(boost::asio::ip::tcp::socket socket, server_state& state);
  ~session();
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  // Serves the connection until it closes. Runs on the socket's executor (a
  // per-connection strand when --threads > 1). Takes the owner by value so the
  // coroutine frame keeps the session alive for as long as it runs. Never
  // throws: errors end only this connection.
  static boost::asio::awaitable<void> run(std::shared_ptr<session> self);

 private:
  enum class next { keep_alive, close, done };
  enum class framing { content_length, chunked, until_close, none };
  using parser_type = boost::beast::http::request_parser<boost::beast::http::buffer_body>;

  boost::asio::awaitable<void> serve();
  boost::asio::awaitable<next> handle_request();
  boost::asio::awaitable<void> on_read_error(boost::system::error_code ec);

  boost::asio::awaitable<boost::system::error_code> read_body_piece(std::size_t& n);
  boost::asio::awaitable<boost::system::error_code> discard_body();

  boost::asio::awaitable<next> respond_echo_json(const request_params& p, bool keep_alive);
  boost::asio::awaitable<next> respond_echo_body(const request_params& p, bool keep_alive);
  boost::asio::awaitable<next> respond_pattern(const request_params& p, bool keep_alive);

  void build_head(unsigned status, framing f, std::uint64_t length, std::string_view content_type,
                  bool keep_alive, const request_params& p);
  boost::asio::awaitable<boost::system::error_code> write_fixed(unsigned status, std::string_view body,
                                                                std::string_view content_type,
                                                                bool keep_alive, const request_params& p);
  boost::asio::awaitable<boost::system::error_code> write_raw(std::string_view data);
  // Returns false if the peer hung up during the delay.
  boost::asio::awaitable<bool> sleep_ms(std::uint64_t ms);

  boost::asio::awaitable<void> drop(bool reset);
  boost::asio::awaitable<void> lingering_close();
  boost::asio::awaitable<void> serve_websocket();

  next after_response(bool keep_alive);
  bool request_is_head() const;
  unsigned request_version() const;

  boost::asio::ip::tcp::socket socket_;
  server_state& state_;
  boost::beast::flat_buffer buffer_;
  // A parser handles exactly one message, so a fresh one is emplaced per request.
  std::optional<parser_type> parser_;
  // Allocated on the first request that has a body: idle keep-alive
  // connections then cost no body buffer.
  std::unique_ptr<char[]> body_buf_;
  std::string head_;  // response head, reused so keep-alive requests don't reallocate
  std::uint64_t responses_ = 0;
};

}  // namespace lb::backend
