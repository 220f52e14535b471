#include "lb/proto/h2/plane.h"

#include <openssl/ssl.h>
#include <sys/socket.h>

#include <cstring>
#include <string_view>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "lb/io/tls_stream.h"
#include "lb/listener/stage_guard.h"
#include "lb/proto/h2/session.h"
#include "lb/proto/http/connection.h"
#include "lb/runtime/memory.h"
#include "lb/runtime/worker.h"

namespace lb::proto::h2 {

namespace asio = boost::asio;

namespace {

constexpr std::string_view preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

enum class choice { h1, h2, wait, gone };

// What the bytes at the head of the socket say, without taking them.
choice peek_preface(int fd) {
  char buf[preface.size()];
  const auto n = ::recv(fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return choice::gone;
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? choice::wait : choice::gone;
  const auto got = static_cast<std::size_t>(n);
  if (std::memcmp(buf, preface.data(), got) != 0) return choice::h1;
  return got == preface.size() ? choice::h2 : choice::wait;
}

asio::awaitable<void> sniff(runtime::worker& w, std::shared_ptr<listener::accepted_connection> c) {
  const auto ws = w.current();
  const auto& ls = ws->snap->listeners[c->listener_index];
  // The wait counts against header_timeout, as the first request would.
  listener::stage_guard guard(w, std::move(c->ticket), *c->stream, ls.cfg->limits.header_timeout);
  asio::steady_timer ready(w.io());
  choice got = choice::wait;
  while (got == choice::wait && !guard.timed_out && c->stream->is_open()) {
    bool fired = false;
    ready.expires_at(asio::steady_timer::time_point::max());
    c->stream->wait_readable([&ready, &fired](io::error_code) {
      fired = true;
      ready.cancel();
    });
    io::error_code ec;
    co_await ready.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (!fired || guard.timed_out || !c->stream->is_open()) break;
    got = peek_preface(c->stream->native_handle());
    if (got == choice::wait) {
      // Part of a preface: the rest is a moment behind.
      ready.expires_after(std::chrono::milliseconds(5));
      co_await ready.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }
  c->ticket = guard.give_back();
  if (got == choice::h2) start_connection(w, std::move(*c));
  else if (got == choice::h1) http::start_connection(w, std::move(*c));
}

}  // namespace

void start_connection(runtime::worker& w, listener::accepted_connection&& c) {
  start_h2(w, std::move(c.stream), std::move(c.ticket), c.peer, c.listener_index);
}

void start_negotiated(runtime::worker& w, listener::accepted_connection&& c) {
  const auto& cfg = *w.current()->snap->listeners[c.listener_index].cfg;
  if (auto* tls = dynamic_cast<io::tls_stream*>(c.stream.get())) {
    const unsigned char* alpn = nullptr;
    unsigned len = 0;
    SSL_get0_alpn_selected(tls->ssl(), &alpn, &len);
    const std::string_view chosen(reinterpret_cast<const char*>(alpn), alpn ? len : 0);
    // No ALPN: the listener's HTTP/1 plane, unless it speaks only h2.
    if (chosen == "h2" || (chosen.empty() && !cfg.h1)) start_connection(w, std::move(c));
    else http::start_connection(w, std::move(c));
    return;
  }
  if (!cfg.h1) return start_connection(w, std::move(c));
  auto conn = std::make_shared<listener::accepted_connection>(std::move(c));
  asio::co_spawn(w.io(), sniff(w, conn), runtime::memory::contain{runtime::memory::plane::stage});
}

}  // namespace lb::proto::h2
