#include "session.h"

#include <openssl/evp.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <exception>
#include <limits>
#include <stdexcept>

#include <boost/asio/buffer.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/websocket/stream.hpp>

namespace lb::backend {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using asio::awaitable;

constexpr std::size_t header_limit = 64 * 1024;
// Unit of every body read and write: big enough for full-speed bulk transfer,
// small enough that memory per connection stays bounded.
constexpr std::size_t io_chunk = 64 * 1024;
// The WebSocket echo holds one whole message in memory; cap it.
constexpr std::size_t ws_max_message = 64 * 1024 * 1024;
// After we stop sending, how long and how much we keep draining the peer's
// input before closing (see lingering_close).
constexpr auto linger_time = std::chrono::seconds(1);
constexpr std::size_t linger_bytes = 1024 * 1024;

// Errors are values, not exceptions: a client hanging up is the normal case,
// and throwing on every disconnect would cost more than serving the request.
auto with_ec(error_code& ec) { return asio::redirect_error(asio::use_awaitable, ec); }

// Bytes 'a' + i % 26, io_chunk + 26 long: a size=N chunk starting at body
// offset o is the slice at o % 26, so every chunk of every response comes from
// this one shared read-only buffer and nothing is allocated per response.
const char* pattern() {
  static const auto data = [] {
    auto a = std::make_unique<char[]>(io_chunk + 26);
    for (std::size_t i = 0; i < io_chunk + 26; ++i) a[i] = static_cast<char>('a' + i % 26);
    return a;
  }();
  return data.get();
}

// Chunk-size line for Transfer-Encoding: chunked.
std::string_view chunk_size_line(std::array<char, 24>& buf, std::size_t n) {
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size() - 2, n, 16);
  (void)ec;  // 24 bytes always fit a 64-bit hex number
  *end++ = '\r';
  *end++ = '\n';
  return {buf.data(), static_cast<std::size_t>(end - buf.data())};
}

bool status_has_no_body(unsigned status) { return status < 200 || status == 204 || status == 304; }

std::string_view reason(unsigned status) {
  auto r = http::obsolete_reason(http::int_to_status(status));
  // Beast answers "<unknown-status>" for codes it does not know.
  if (r.empty() || r.front() == '<') return "Unknown";
  return {r.data(), r.size()};
}

const boost::system::error_category& http_category() {
  return http::make_error_code(http::error::end_of_stream).category();
}

class sha256 {
 public:
  sha256() : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1)
      throw std::runtime_error("EVP sha256 init failed");
  }
  void update(const char* data, std::size_t n) { EVP_DigestUpdate(ctx_.get(), data, n); }
  std::string hex_digest() {
    static constexpr char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_.get(), md, &len);
    std::string out;
    out.reserve(len * 2);
    for (unsigned i = 0; i < len; ++i) {
      out += hex[md[i] >> 4];
      out += hex[md[i] & 0xf];
    }
    return out;
  }

 private:
  struct deleter {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  std::unique_ptr<EVP_MD_CTX, deleter> ctx_;
};

template <class Fields>
bool is_websocket_upgrade(const Fields& req) {
  auto upgrade = req[http::field::upgrade];
  if (upgrade.empty()) return false;
  return http::token_list(upgrade).exists("websocket");
}

}  // namespace

session::session(tcp::socket socket, server_state& state) : socket_(std::move(socket)), state_(state) {
  state_.connections.fetch_add(1, std::memory_order_relaxed);
  state_.active_connections.fetch_add(1, std::memory_order_relaxed);
}

session::~session() { state_.active_connections.fetch_sub(1, std::memory_order_relaxed); }

awaitable<void> session::run(std::shared_ptr<session> self) {
  try {
    co_await self->serve();
  } catch (const std::exception&) {
    // One connection failing (bad_alloc, a bug) must not take the process
    // down: the other connections are still being served.
  }
  error_code ignored;
  self->socket_.close(ignored);
}

awaitable<void> session::serve() {
  for (;;) {
    parser_.emplace();
    parser_->header_limit(header_limit);
    // No body limit. Not boost::none: Beast 1.74 compares `len > optional`
    // for Content-Length bodies, and any length is "greater" than none.
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    error_code ec;
    co_await http::async_read_header(socket_, buffer_, *parser_, with_ec(ec));
    if (ec) {
      co_await on_read_error(ec);
      co_return;
    }
    switch (co_await handle_request()) {
      case next::keep_alive:
        continue;
      case next::close:
        co_await lingering_close();
        co_return;
      case next::done:
        co_return;
    }
  }
}

awaitable<void> session::on_read_error(error_code ec) {
  // A clean hang-up between requests, or a transport error: nothing to say.
  if (ec.category() != http_category() || ec == http::error::end_of_stream ||
      ec == http::error::partial_message)
    co_return;
  unsigned status = ec == http::error::header_limit ? 431 : 400;
  std::string body = ec.message() + "\n";
  request_params none;
  build_head(status, framing::content_length, body.size(), "text/plain", false, none);
  head_ += body;
  if (!co_await write_raw(head_)) co_await lingering_close();
}

bool session::request_is_head() const { return parser_->get().method() == http::verb::head; }
unsigned session::request_version() const { return parser_->get().version(); }

awaitable<session::next> session::handle_request() {
  auto& req = parser_->get();
  const std::string_view target = req.target();
  const bool stats = target.substr(0, target.find('?')) == "/__stats";
  if (!stats) state_.requests.fetch_add(1, std::memory_order_relaxed);

  if (state_.drop_request_after && responses_ >= *state_.drop_request_after) {
    co_await drop(false);
    co_return next::done;
  }
  if (is_websocket_upgrade(req)) {
    co_await serve_websocket();
    co_return next::done;
  }

  request_params params;
  std::optional<std::string> bad_params;
  if (!stats) bad_params = parse_params(target, params);
  if (!bad_params && (params.drop || params.reset)) {
    co_await drop(params.reset);
    co_return next::done;
  }

  // A client that asked to wait for "100 Continue" would otherwise stall
  // (curl for up to a second) before sending the body we are about to read.
  if (req.version() >= 11 && !parser_->is_done() &&
      beast::iequals(req[http::field::expect], "100-continue")) {
    if (co_await write_raw("HTTP/1.1 100 Continue\r\n\r\n")) co_return next::done;
  }

  bool keep_alive = req.keep_alive() && !params.close;

  if (stats || bad_params) {
    if (auto ec = co_await discard_body()) co_return next::done;
    std::string body;
    unsigned status = 200;
    if (stats) {
      body = "{\"name\":";
      append_json_string(body, state_.name);
      body += ",\"connections\":" + std::to_string(state_.connections.load(std::memory_order_relaxed));
      body += ",\"active_connections\":" +
              std::to_string(state_.active_connections.load(std::memory_order_relaxed));
      body += ",\"requests\":" + std::to_string(state_.requests.load(std::memory_order_relaxed));
      body += "}";
    } else {
      status = 400;
      body = *bad_params + "\n";
      params = request_params{};  // don't apply half-parsed controls to the error
    }
    if (co_await write_fixed(status, body, stats ? "application/json" : "text/plain", keep_alive, params))
      co_return next::done;
    co_return after_response(keep_alive);
  }

  if (params.echo == echo_mode::json) co_return co_await respond_echo_json(params, keep_alive);
  if (params.echo == echo_mode::body && !request_is_head() && !status_has_no_body(params.status))
    co_return co_await respond_echo_body(params, keep_alive);

  // Everything else ignores the request body, but it must still be read off
  // the connection, or the next keep-alive request would be parsed from it.
  if (auto ec = co_await discard_body()) co_return next::done;
  if (!co_await sleep_ms(params.delay_ms)) co_return next::done;
  if (params.size) co_return co_await respond_pattern(params, keep_alive);
  std::string body = state_.name + "\n";
  if (co_await write_fixed(params.status, body, "text/plain", keep_alive, params)) co_return next::done;
  co_return after_response(keep_alive);
}

session::next session::after_response(bool keep_alive) {
  ++responses_;
  if (!keep_alive) return next::close;
  // The limit closes silently: the last response still advertises keep-alive,
  // like an upstream that times out an idle connection at its own pace.
  if (state_.max_requests_per_conn && responses_ >= *state_.max_requests_per_conn) return next::close;
  return next::keep_alive;
}

awaitable<error_code> session::read_body_piece(std::size_t& n) {
  if (!body_buf_) {
    body_buf_.reset(new char[io_chunk]);
    // Beast reads at most the buffer's free capacity, which after a small
    // request head is a few hundred bytes: bulk bodies would then move in
    // tiny reads. Give it room for full-size reads once a body shows up.
    buffer_.reserve(io_chunk);
  }
  auto& body = parser_->get().body();
  body.data = body_buf_.get();
  body.size = io_chunk;
  error_code ec;
  co_await http::async_read_some(socket_, buffer_, *parser_, with_ec(ec));
  // need_buffer only means our chunk is full: the normal way a piece ends.
  if (ec == http::error::need_buffer) ec = {};
  n = io_chunk - body.size;
  body.data = nullptr;
  co_return ec;
}

awaitable<error_code> session::discard_body() {
  while (!parser_->is_done()) {
    std::size_t n = 0;
    if (auto ec = co_await read_body_piece(n)) co_return ec;
  }
  co_return error_code{};
}

awaitable<session::next> session::respond_echo_json(const request_params& p, bool keep_alive) {
  const auto& req = parser_->get();
  std::string json = "{\"backend\":";
  append_json_string(json, state_.name);
  json += ",\"method\":";
  append_json_string(json, req.method_string());
  json += ",\"target\":";
  append_json_string(json, req.target());
  json += ",\"version\":\"";
  json += std::to_string(req.version() / 10) + "." + std::to_string(req.version() % 10);
  json += "\",\"headers\":[";
  // Captured before the body is read: Beast appends chunked trailers to the
  // same field list, and these are meant to be the request headers.
  bool first = true;
  for (const auto& field : req) {
    if (!first) json += ',';
    first = false;
    json += '[';
    append_json_string(json, field.name_string());
    json += ',';
    append_json_string(json, field.value());
    json += ']';
  }
  json += "],\"body_bytes\":";

  sha256 hash;
  std::uint64_t total = 0;
  while (!parser_->is_done()) {
    std::size_t n = 0;
    if (auto ec = co_await read_body_piece(n)) co_return next::done;
    hash.update(body_buf_.get(), n);
    total += n;
  }
  json += std::to_string(total);
  json += ",\"body_sha256\":\"" + hash.hex_digest() + "\"}";

  if (!co_await sleep_ms(p.delay_ms)) co_return next::done;
  if (co_await write_fixed(p.status, json, "application/json", keep_alive, p)) co_return next::done;
  co_return after_response(keep_alive);
}

awaitable<session::next> session::respond_echo_body(const request_params& p, bool keep_alive) {
  // HTTP/1.0 clients can't parse chunked, so for them the body ends when the
  // connection does.
  const bool chunked = request_version() >= 11;
  if (!chunked) keep_alive = false;
  if (!co_await sleep_ms(p.delay_ms)) co_return next::done;
  build_head(p.status, chunked ? framing::chunked : framing::until_close, 0, "application/octet-stream",
             keep_alive, p);
  if (co_await write_raw(head_)) co_return next::done;

  // One piece in flight at a time: read, write it back, and only then read
  // again, so a fast uploader is paced by the slow reader (bounded memory).
  while (!parser_->is_done()) {
    std::size_t n = 0;
    if (auto ec = co_await read_body_piece(n)) co_return next::done;
    if (n == 0) continue;
    error_code ec;
    if (chunked) {
      std::array<char, 24> size_buf;
      std::array<asio::const_buffer, 3> bufs{asio::buffer(chunk_size_line(size_buf, n)),
                                             asio::buffer(body_buf_.get(), n), asio::buffer("\r\n", 2)};
      co_await asio::async_write(socket_, bufs, with_ec(ec));
    } else {
      co_await asio::async_write(socket_, asio::buffer(body_buf_.get(), n), with_ec(ec));
    }
    if (ec) co_return next::done;
  }
  if (chunked && co_await write_raw("0\r\n\r\n")) co_return next::done;
  co_return after_response(keep_alive);
}

awaitable<session::next> session::respond_pattern(const request_params& p, bool keep_alive) {
  const std::uint64_t size = *p.size;
  const bool no_body = status_has_no_body(p.status);
  const bool chunked = p.chunked && request_version() >= 11;
  build_head(p.status, no_body ? framing::none : chunked ? framing::chunked : framing::content_length, size,
             "application/octet-stream", keep_alive, p);
  if (co_await write_raw(head_)) co_return next::done;
  if (no_body || request_is_head()) co_return after_response(keep_alive);

  // Back-pressure: each chunk is written only after the previous one has been
  // taken by the kernel, so a slow reader costs no memory, whatever N is.
  const char* src = pattern();
  std::uint64_t offset = 0;
  while (offset < size) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(io_chunk, size - offset));
    const char* data = src + offset % 26;
    error_code ec;
    if (chunked) {
      std::array<char, 24> size_buf;
      std::array<asio::const_buffer, 3> bufs{asio::buffer(chunk_size_line(size_buf, n)), asio::buffer(data, n),
                                             asio::buffer("\r\n", 2)};
      co_await asio::async_write(socket_, bufs, with_ec(ec));
    } else {
      co_await asio::async_write(socket_, asio::buffer(data, n), with_ec(ec));
    }
    if (ec) co_return next::done;
    offset += n;
  }
  if (chunked && co_await write_raw("0\r\n\r\n")) co_return next::done;
  co_return after_response(keep_alive);
}

void session::build_head(unsigned status, framing f, std::uint64_t length, std::string_view content_type,
                         bool keep_alive, const request_params& p) {
  // Always HTTP/1.1 (RFC 9110 §2.5: a server sends its own version); framing
  // and Connection below still follow what a 1.0 client understands.
  head_.assign("HTTP/1.1 ");
  head_ += std::to_string(status);
  head_ += ' ';
  head_ += reason(status);
  head_ += "\r\n";
  head_ += state_.backend_header;
  bool has_content_type = false;
  for (const auto& [name, value] : p.headers) {
    head_ += name;
    head_ += ": ";
    head_ += value;
    head_ += "\r\n";
    if (beast::iequals(name, "content-type")) has_content_type = true;
  }
  if (f != framing::none && !has_content_type) {
    head_ += "Content-Type: ";
    head_ += content_type;
    head_ += "\r\n";
  }
  switch (f) {
    case framing::content_length:
      head_ += "Content-Length: ";
      head_ += std::to_string(length);
      head_ += "\r\n";
      break;
    case framing::chunked:
      head_ += "Transfer-Encoding: chunked\r\n";
      break;
    case framing::until_close:
    case framing::none:
      break;
  }
  if (!keep_alive)
    head_ += "Connection: close\r\n";
  else if (parser_ && request_version() < 11)
    head_ += "Connection: keep-alive\r\n";
  head_ += "\r\n";
}

awaitable<error_code> session::write_fixed(unsigned status, std::string_view body, std::string_view content_type,
                                           bool keep_alive, const request_params& p) {
  const bool no_body = status_has_no_body(status);
  const bool chunked = p.chunked && request_version() >= 11 && !no_body;
  build_head(status, no_body ? framing::none : chunked ? framing::chunked : framing::content_length, body.size(),
             content_type, keep_alive, p);
  error_code ec;
  if (no_body || request_is_head()) {
    co_await asio::async_write(socket_, asio::buffer(head_), with_ec(ec));
  } else if (!chunked) {
    // Head and body in one gather write: one syscall per small response.
    std::array<asio::const_buffer, 2> bufs{asio::buffer(head_), asio::buffer(body)};
    co_await asio::async_write(socket_, bufs, with_ec(ec));
  } else if (body.empty()) {
    std::array<asio::const_buffer, 2> bufs{asio::buffer(head_), asio::buffer("0\r\n\r\n", 5)};
    co_await asio::async_write(socket_, bufs, with_ec(ec));
  } else {
    std::array<char, 24> size_buf;
    std::array<asio::const_buffer, 4> bufs{asio::buffer(head_), asio::buffer(chunk_size_line(size_buf, body.size())),
                                           asio::buffer(body), asio::buffer("\r\n0\r\n\r\n", 7)};
    co_await asio::async_write(socket_, bufs, with_ec(ec));
  }
  co_return ec;
}

awaitable<error_code> session::write_raw(std::string_view data) {
  error_code ec;
  co_await asio::async_write(socket_, asio::buffer(data), with_ec(ec));
  co_return ec;
}

awaitable<bool> session::sleep_ms(std::uint64_t ms) {
  if (ms == 0) co_return true;
  auto timer = std::make_shared<asio::steady_timer>(socket_.get_executor());
  timer->expires_after(std::chrono::milliseconds(ms));
  // Meanwhile watch for the peer hanging up (a proxy giving up on a slow
  // response): end the delay then, rather than holding the connection and
  // its active_connections count for the whole delay.
  auto gone = std::make_shared<bool>(false);
  socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this(), timer, gone](error_code ec) {
    if (ec) return;
    char c;
    ssize_t n = ::recv(self->socket_.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    // Readable with data (a pipelined request, or the body for echo=body) is
    // not a hang-up: stop watching and let the delay run out.
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      *gone = true;
      timer->cancel();
    }
  });
  error_code ec;
  co_await timer->async_wait(with_ec(ec));
  error_code ignored;
  socket_.cancel(ignored);  // the readability watch, if still pending
  co_return !*gone;
}

awaitable<void> session::drop(bool reset) {
  error_code ec;
  // Read the rest of the request first: closing with unread input makes the
  // kernel send RST, and a drop must look like an orderly close (FIN). Skip
  // it when the client is waiting for "100 Continue" and won't send a body.
  const auto& req = parser_->get();
  if (!(req.version() >= 11 && beast::iequals(req[http::field::expect], "100-continue"))) ec = co_await discard_body();
  if (reset) {
    // SO_LINGER with a zero timeout turns close() into an immediate RST.
    socket_.set_option(asio::socket_base::linger(true, 0), ec);
  } else {
    socket_.shutdown(tcp::socket::shutdown_both, ec);
  }
  socket_.close(ec);
}

awaitable<void> session::lingering_close() {
  error_code ec;
  socket_.shutdown(tcp::socket::shutdown_send, ec);
  if (ec) {
    socket_.close(ec);
    co_return;
  }
  // Keep reading until the peer closes too (bounded in time and bytes): if we
  // closed with a pipelined request still unread, the kernel would answer with
  // RST, and the peer could lose the response that is still in flight.
  auto timer = std::make_shared<asio::steady_timer>(socket_.get_executor());
  timer->expires_after(linger_time);
  timer->async_wait([self = shared_from_this()](error_code wait_ec) {
    if (!wait_ec) {
      error_code ignored;
      self->socket_.cancel(ignored);
    }
  });
  std::size_t drained = 0;
  std::array<char, 4096> scratch;  // contents are thrown away
  while (drained < linger_bytes) {
    std::size_t n = co_await socket_.async_read_some(asio::buffer(scratch), with_ec(ec));
    if (ec) break;
    drained += n;
  }
  timer->cancel();
  socket_.close(ec);
}

awaitable<void> session::serve_websocket() {
  websocket::stream<tcp::socket> ws(std::move(socket_));
  ws.set_option(websocket::stream_base::decorator(
      [name = state_.name](websocket::response_type& res) { res.set("X-Backend", name); }));
  ws.read_message_max(ws_max_message);
  // Echo each message as one frame, so simple test clients see exactly what
  // they sent (Beast would otherwise split writes into 4 KiB fragments).
  ws.auto_fragment(false);
  error_code ec;
  // Bytes the client sent after its handshake, before our 101, are lost here
  // (Beast can't take both a parsed request and leftover input); RFC 6455
  // §4.1 has the client wait for the 101 anyway.
  co_await ws.async_accept(parser_->get(), with_ec(ec));
  if (ec) co_return;
  beast::flat_buffer message;
  for (;;) {
    co_await ws.async_read(message, with_ec(ec));
    if (ec) break;  // includes websocket::error::closed after a close handshake
    ws.text(ws.got_text());
    co_await ws.async_write(message.data(), with_ec(ec));
    if (ec) break;
    message.consume(message.size());
  }
  if (ec != websocket::error::closed) {
    error_code ignored;
    ws.next_layer().close(ignored);
  }
}

}  // namespace lb::backend
