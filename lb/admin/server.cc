#include "lb/admin/server.h"

#include <algorithm>
#include <chrono>
#include <list>
#include <string_view>

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include <openssl/crypto.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "lb/core/log.h"

namespace lb::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

struct server::state {
  explicit state(asio::io_context& io) : io(io), acceptor(io) {}
  asio::io_context& io;
  tcp::acceptor acceptor;
  std::map<std::pair<bhttp::verb, std::string>, handler> routes;
  std::list<beast::tcp_stream*> open;  // for stop()
  std::size_t open_count = 0;
  bool stopped = false;
  std::string token;
  // Without a token, mutating requests are served only on a loopback listen.
  bool loopback = true;
  // Requests per second across the admin server (token bucket): /reload
  // rebuilds the whole config and /metrics renders every series, so a flood
  // must not take the control thread.
  double tokens = burst;
  std::chrono::steady_clock::time_point refilled = std::chrono::steady_clock::now();

  static constexpr double rate = 100;    // requests per second
  static constexpr double burst = 200;   // requests at once
  static constexpr std::size_t max_open = 64;

  bool take_token() {
    const auto now = std::chrono::steady_clock::now();
    tokens = std::min(burst, tokens + rate * std::chrono::duration<double>(now - refilled).count());
    refilled = now;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  }
};

namespace {

// Admin requests are small: a head of a few fields, a body of none.
constexpr std::uint32_t max_head = 8 * 1024;
constexpr std::uint64_t max_body = 64 * 1024;

bool authorized(const std::string& token, std::string_view header) {
  constexpr std::string_view scheme = "Bearer ";
  if (header.size() != scheme.size() + token.size() || !beast::iequals(header.substr(0, scheme.size()), scheme))
    return false;
  // Constant time: the comparison must not tell how much of a guess was right.
  return CRYPTO_memcmp(header.data() + scheme.size(), token.data(), token.size()) == 0;
}

asio::awaitable<void> serve(std::shared_ptr<server::state> st, tcp::socket sock) {
  beast::tcp_stream stream(std::move(sock));
  auto self = st->open.insert(st->open.end(), &stream);
  ++st->open_count;
  beast::flat_buffer buf;
  for (;;) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(max_head);
    parser.body_limit(max_body);
    stream.expires_after(std::chrono::seconds(30));
    boost::system::error_code ec;
    co_await bhttp::async_read(stream, buf, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      const bool too_big = ec == bhttp::error::header_limit || ec == bhttp::error::body_limit;
      if (too_big) {
        bhttp::response<bhttp::string_body> res{bhttp::status::payload_too_large, 11};
        res.set(bhttp::field::connection, "close");
        res.body() = "request too large\n";
        res.prepare_payload();
        co_await bhttp::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
      }
      break;
    }
    auto& req = parser.get();
    std::string path(req.target());
    if (auto q = path.find('?'); q != std::string::npos) path.resize(q);
    reply r;
    auto it = st->routes.find({req.method(), path});
    const bool reads_only = req.method() == bhttp::verb::get || req.method() == bhttp::verb::head;
    bool challenge = false;
    if (!st->take_token()) {
      r.status = bhttp::status::too_many_requests;
      r.body = "too many admin requests\n";
    } else if (!reads_only && st->token.empty() && !st->loopback) {
      r.status = bhttp::status::forbidden;
      r.body = "mutating admin requests are off: admin.listen is not loopback and admin.token_file is not set "
               "(reload with SIGHUP, or set a token)\n";
    } else if (!reads_only && !st->token.empty() && !authorized(st->token, req[bhttp::field::authorization])) {
      r.status = bhttp::status::unauthorized;
      r.body = "bearer token required\n";
      challenge = true;
    } else if (it != st->routes.end()) {
      r = it->second();
    } else {
      bool path_known = false;
      for (const auto& [key, h] : st->routes) path_known |= key.second == path;
      r.status = path_known ? bhttp::status::method_not_allowed : bhttp::status::not_found;
      r.body = path_known ? "method not allowed\n" : "not found\n";
    }
    bhttp::response<bhttp::string_body> res{r.status, req.version()};
    res.set(bhttp::field::content_type, r.content_type);
    res.set(bhttp::field::cache_control, "no-store");
    if (challenge) res.set(bhttp::field::www_authenticate, "Bearer");
    if (r.status == bhttp::status::too_many_requests) res.set(bhttp::field::retry_after, "1");
    res.keep_alive(req.keep_alive() && !st->stopped);
    res.body() = std::move(r.body);
    res.prepare_payload();
    co_await bhttp::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !res.keep_alive()) break;
  }
  st->open.erase(self);
  --st->open_count;
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

void accept_loop(std::shared_ptr<server::state> st) {
  st->acceptor.async_accept([st](boost::system::error_code ec, tcp::socket sock) {
    if (ec == asio::error::operation_aborted || st->stopped) return;
    // Past max_open connections a new one is closed at once (sock's destructor).
    if (!ec && st->open_count < server::state::max_open)
      asio::co_spawn(st->io, serve(st, std::move(sock)), asio::detached);
    accept_loop(st);
  });
}

}  // namespace

server::server(asio::io_context& io) : state_(std::make_shared<state>(io)) {}

server::~server() { stop(); }

void server::route(bhttp::verb method, std::string path, handler h) {
  state_->routes[{method, std::move(path)}] = std::move(h);
}

tcp::endpoint server::listen(const tcp::endpoint& ep) {
  auto& a = state_->acceptor;
  a.open(ep.protocol());
  a.set_option(asio::socket_base::reuse_address(true));
  a.bind(ep);
  a.listen();
  state_->loopback = ep.address().is_loopback();
  accept_loop(state_);
  return a.local_endpoint();
}

tcp::endpoint server::adopt(int fd) {
  auto& a = state_->acceptor;
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int err = errno;
    ::close(fd);
    throw boost::system::system_error(err, boost::system::system_category(), "getsockname");
  }
  a.assign(addr.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), fd);
  const auto ep = a.local_endpoint();
  state_->loopback = ep.address().is_loopback();
  accept_loop(state_);
  return ep;
}

int server::native_handle() { return state_->acceptor.is_open() ? state_->acceptor.native_handle() : -1; }

void server::stop_accepting() {
  // release() takes the socket out of this reactor first: the new process
  // holds the same socket, so close() alone would leave it registered.
  boost::system::error_code ec;
  if (!state_->acceptor.is_open()) return;
  const int fd = state_->acceptor.release(ec);
  if (!ec) ::close(fd);
  else state_->acceptor.close(ec);
}

void server::set_token(std::string token) { state_->token = std::move(token); }

void server::stop() {
  if (state_->stopped) return;
  state_->stopped = true;
  boost::system::error_code ignored;
  state_->acceptor.close(ignored);
  for (auto* s : state_->open) s->socket().close(ignored);
}

}  // namespace lb::admin
