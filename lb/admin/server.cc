#include "lb/admin/server.h"

#include <list>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
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
  bool stopped = false;
};

namespace {

asio::awaitable<void> serve(std::shared_ptr<server::state> st, tcp::socket sock) {
  beast::tcp_stream stream(std::move(sock));
  auto self = st->open.insert(st->open.end(), &stream);
  beast::flat_buffer buf;
  for (;;) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.body_limit(64 * 1024);
    stream.expires_after(std::chrono::seconds(30));
    boost::system::error_code ec;
    co_await bhttp::async_read(stream, buf, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    auto& req = parser.get();
    std::string path(req.target());
    if (auto q = path.find('?'); q != std::string::npos) path.resize(q);
    reply r;
    auto it = st->routes.find({req.method(), path});
    if (it != st->routes.end()) {
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
    res.keep_alive(req.keep_alive() && !st->stopped);
    res.body() = std::move(r.body);
    res.prepare_payload();
    co_await bhttp::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !res.keep_alive()) break;
  }
  st->open.erase(self);
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

void accept_loop(std::shared_ptr<server::state> st) {
  st->acceptor.async_accept([st](boost::system::error_code ec, tcp::socket sock) {
    if (ec == asio::error::operation_aborted || st->stopped) return;
    if (!ec) asio::co_spawn(st->io, serve(st, std::move(sock)), asio::detached);
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
  accept_loop(state_);
  return a.local_endpoint();
}

void server::stop() {
  if (state_->stopped) return;
  state_->stopped = true;
  boost::system::error_code ignored;
  state_->acceptor.close(ignored);
  for (auto* s : state_->open) s->socket().close(ignored);
}

}  // namespace lb::admin
