#include "lb/proto/http/session.h"

#include <limits>
#include <optional>
#include <span>
#include <array>
#include <cstdio>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>

#include "lb/core/arena.h"
#include "lb/core/log.h"
#include "lb/proto/http/head_scan.h"
#include "lb/proto/http/local_response.h"
#include "lb/proto/http/rewrite.h"
#include "lb/runtime/worker.h"

namespace lb::proto::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using asio::awaitable;
using asio::use_awaitable;

namespace {

using fields_allocator = arena_allocator<char>;
using fields = bhttp::basic_fields<fields_allocator>;
using request_parser = bhttp::parser<true, bhttp::buffer_body, fields_allocator>;
using response_parser = bhttp::parser<false, bhttp::buffer_body, fields_allocator>;
using request_message = bhttp::request<bhttp::buffer_body, fields>;

// Upstream heads are not the client's to size; this bounds a broken upstream.
constexpr std::size_t max_upstream_head = 64 * 1024;
// First read of a request head (nginx: client_header_buffer_size 1k); larger
// heads grow the buffer up to max_header_bytes.
constexpr std::size_t read_chunk = 1024;
// Upstream connections are few and reused: read their responses in bigger bites.
constexpr std::size_t upstream_read_chunk = 16 * 1024;
// Reused upstream connections that die before answering are retried on fresh
// ones; more than this in one request means the endpoint itself is failing.
constexpr int max_stale_retries = 2;
// Not boost::none: Beast 1.74 compares `len_ > body_limit_` with an empty
// optional as always true, so "no limit" must be the largest value.
constexpr std::uint64_t unlimited = std::numeric_limits<std::uint64_t>::max();

std::string_view view(const beast::flat_buffer& b) {
  return {static_cast<const char*>(b.data().data()), b.size()};
}

// Which sockets a pending operation waits on, so a timeout knows its meaning.
enum class phase { idle, head, client_body, connect, upstream_write, upstream_head, upstream_body, client_write, tunnel };

enum class head_result { complete, closed, truncated, malformed, too_large, timed_out };

enum class relay_result { ok, in_error, in_malformed, in_too_large, out_error, timed_out };

// Endpoints already tried for one request (nginx's `tried` bitmap); no
// allocation for pools of up to 64 endpoints.
class tried_set {
 public:
  explicit tried_set(std::size_t n) {
    if (n > 64) big_.resize(n);
  }
  bool test(std::size_t i) const { return big_.empty() ? (small_ >> i) & 1 : big_[i]; }
  void set(std::size_t i) {
    if (big_.empty()) small_ |= std::uint64_t{1} << i;
    else big_[i] = true;
    any_ = true;
  }
  bool any() const { return any_; }

 private:
  std::uint64_t small_ = 0;
  std::vector<bool> big_;
  bool any_ = false;
};

// Socket I/O. Writes go out with a non-blocking syscall first and wait for
// writability only on EAGAIN, so a write that fits the socket buffer needs no
// handler. Reads use async_read_some, not a readiness wait: Asio re-arms epoll
// (epoll_ctl) on every async_wait, while a queued read costs no syscall once
// the previous read drained the socket. `try_first` reads synchronously first
// where bytes are likely already there (a body in flight).
awaitable<error_code> read_more(tcp::socket& s, beast::flat_buffer& buf, std::size_t want, bool try_first) {
  error_code ec;
  if (try_first) {
    const auto n = s.read_some(buf.prepare(want), ec);
    if (ec != asio::error::would_block) {
      buf.commit(n);
      co_return ec;
    }
    ec = {};
  }
  const auto n = co_await s.async_read_some(buf.prepare(want), asio::redirect_error(use_awaitable, ec));
  buf.commit(n);
  co_return ec;
}

// Writes `count` buffers completely (one writev when the socket takes them).
awaitable<error_code> write_all(tcp::socket& s, asio::const_buffer* bufs, std::size_t count) {
  std::size_t first = 0;
  error_code ec;
  for (;;) {
    while (first < count && bufs[first].size() == 0) ++first;
    if (first == count) co_return error_code{};
    auto n = s.write_some(std::span<const asio::const_buffer>(bufs + first, count - first), ec);
    if (ec && ec != asio::error::would_block) co_return ec;
    for (; n != 0; ++first) {
      if (n < bufs[first].size()) {
        bufs[first] += n;
        break;
      }
      n -= bufs[first].size();
    }
    if (ec == asio::error::would_block) {
      co_await s.async_wait(tcp::socket::wait_write, asio::redirect_error(use_awaitable, ec));
      if (ec) co_return ec;
    }
  }
}

awaitable<error_code> write_all(tcp::socket& s, asio::const_buffer b) { co_return co_await write_all(s, &b, 1); }

// Writes one piece of a body in `f`'s framing, preceded by the message head
// when `head` is set (so a small message leaves in one writev), followed by
// the last-chunk when `last`.
awaitable<error_code> write_piece(tcp::socket& s, const std::string* head, framing f, const char* data, std::size_t n,
                                  bool last) {
  std::array<asio::const_buffer, 5> bufs;
  std::size_t count = 0;
  if (head) bufs[count++] = asio::buffer(*head);
  char size_line[20];
  if (f == framing::chunked && n != 0) {
    auto len = std::snprintf(size_line, sizeof size_line, "%zx\r\n", n);
    bufs[count++] = asio::buffer(size_line, static_cast<std::size_t>(len));
    bufs[count++] = asio::buffer(data, n);
    bufs[count++] = asio::buffer("\r\n", 2);
  } else if (n != 0) {
    bufs[count++] = asio::buffer(data, n);
  }
  if (f == framing::chunked && last) bufs[count++] = asio::buffer("0\r\n\r\n", 5);
  co_return co_await write_all(s, bufs.data(), count);
}

class session final : public runtime::session_base, public std::enable_shared_from_this<session> {
 public:
  session(runtime::worker& w, std::size_t listener_index, tcp::socket sock,
          std::atomic<std::uint64_t>* connections)
      : worker_(w),
        listener_index_(listener_index),
        connections_(connections),
        client_(std::move(sock)),
        snap_(w.current()) {
    error_code ec;
    auto remote = client_.remote_endpoint(ec);
    client_ip_ = ec ? "unknown" : remote.address().to_string();
    client_.non_blocking(true, ec);
    worker_.link(this);
  }

  ~session() override {
    worker_.unlink(this);
    connections_->fetch_sub(1, std::memory_order_relaxed);
  }

  void start() {
    asio::co_spawn(client_.get_executor(), serve(), [self = shared_from_this()](std::exception_ptr e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& x) {
          log::error("session failed", {{"error", x.what()}});
        }
        self->close();
        return;
      }
      if (self->parked_) self->park();
    });
  }

  void on_timeout() override {
    timed_out_ = true;
    cancel_io();
  }

  void on_drain() override {
    draining_ = true;
    if (waiting_) cancel_io();
  }

  void on_force_close() override {
    error_code ignored;
    client_.close(ignored);
    if (upstream_sock_) upstream_sock_->close(ignored);
  }

  void on_sweep() override {
    // Park a connection that has been waiting for a whole sweep interval.
    if (!waiting_ || parked_ || park_requested_ || client_buf_.size() != 0) return;
    if (idle_swept_) {
      park_requested_ = true;
      error_code ignored;
      client_.cancel(ignored);
    }
    idle_swept_ = true;
  }

 private:
  const config::listener& listener() const { return *snap_->listeners[listener_index_].cfg; }

  void arm(phase p, config::duration d) {
    phase_ = p;
    timed_out_ = false;
    set_deadline(d);
  }

  void cancel_io() {
    error_code ignored;
    client_.cancel(ignored);
    if (upstream_sock_) upstream_sock_->cancel(ignored);
  }

  awaitable<void> serve() {
    const auto& lim = listener().limits;
    while (!draining_) {
      if (client_buf_.size() == 0) {
        // The first request's head timer runs from accept; later ones get
        // idle_timeout to start and header_timeout from their first byte.
        if (!served_) arm(phase::head, lim.header_timeout);
        else arm(phase::idle, lim.idle_timeout);
        const bool got = co_await await_request();
        if (parked_) co_return;  // start() parks the connection
        if (!got) break;
        if (served_) arm(phase::head, lim.header_timeout);
      } else {
        arm(phase::head, lim.header_timeout);  // pipelined bytes already buffered
      }
      served_ = true;
      if (!co_await exchange()) break;
    }
    close();
  }

  void close() {
    clear_deadline();
    error_code ignored;
    client_.shutdown(tcp::socket::shutdown_send, ignored);
    client_.close(ignored);
  }

  // Waits for the first bytes of the next request with a queued read (no
  // syscall when the socket is drained). A connection still waiting after a
  // whole sweep interval gets its read cancelled by on_sweep and is parked.
  awaitable<bool> await_request() {
    waiting_ = true;
    idle_swept_ = false;
    const auto ec = co_await read_more(client_, client_buf_, read_chunk, false);
    waiting_ = false;
    if (ec == asio::error::operation_aborted && park_requested_ && !timed_out_ && !draining_) {
      park_requested_ = false;
      parked_ = true;
      co_return false;
    }
    park_requested_ = false;
    co_return !ec && !draining_;
  }

  // An idle connection holds no coroutine and no buffer: only the session and
  // one readiness wait. The deadline set before parking (idle_timeout) stays.
  void park() {
    client_buf_.shrink_to_fit();  // empty: frees the storage
    std::string().swap(head_out_);
    waiting_ = true;
    client_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](error_code ec) {
      self->waiting_ = false;
      if (ec || self->draining_) {
        self->close();
        return;
      }
      self->parked_ = false;
      self->start();
    });
  }

  // Reads a message head into `buf` (which may already hold part of it).
  // `ready`: the socket is known to be readable (skip the first wait).
  awaitable<head_result> read_head(tcp::socket& s, beast::flat_buffer& buf, std::size_t limit, std::size_t chunk,
                                   bool skip_empty_lines, bool ready, std::size_t& length) {
    head_scanner scanner;
    for (;;) {
      if (skip_empty_lines) {
        if (auto n = leading_empty_lines(view(buf))) buf.consume(n), scanner.reset();
      }
      switch (scanner.scan(view(buf))) {
        case head_scanner::state::complete: length = scanner.length(); co_return head_result::complete;
        case head_scanner::state::malformed: co_return head_result::malformed;
        case head_scanner::state::need_more: break;
      }
      if (buf.size() > limit) co_return head_result::too_large;
      const std::size_t want = std::max(chunk, buf.capacity() - buf.size());
      const auto ec = co_await read_more(s, buf, want, ready);
      ready = false;
      if (ec) {
        if (timed_out_) co_return head_result::timed_out;
        co_return buf.size() == 0 ? head_result::closed : head_result::truncated;
      }
    }
  }

  awaitable<void> write_local(local_status s, bool keep_alive) {
    arm(phase::client_write, listener().limits.idle_timeout);
    co_await write_all(client_, asio::buffer(local_response(s, keep_alive)));
  }

  // Answers locally; returns whether the client connection stays open.
  awaitable<bool> reply(local_status s, bool request_done) {
    const bool keep = request_done && !draining_ && !closes_connection(s) && keep_alive_;
    co_await write_local(s, keep);
    co_return keep;
  }

  // Streams a message body to `out` after `head`. A Content-Length body goes
  // from the read buffer to the socket as it is (no parsing, no copy); a
  // chunked or close-delimited one through the parser (it must be decoded and
  // validated to be re-framed).
  template <bool is_request>
  awaitable<relay_result> relay_body(tcp::socket& in, beast::flat_buffer& in_buf,
                                     bhttp::parser<is_request, bhttp::buffer_body, fields_allocator>& p,
                                     tcp::socket& out, framing f, const std::string& head, phase read_phase,
                                     config::duration read_timeout, phase write_phase,
                                     config::duration write_timeout) {
    if (!p.chunked() && p.content_length())
      co_return co_await relay_length(in, in_buf, *p.content_length(), out, head, read_phase, read_timeout,
                                      write_phase, write_timeout);
    co_return co_await relay(in, in_buf, p, out, f, head, read_phase, read_timeout, write_phase, write_timeout);
  }

  awaitable<relay_result> relay_length(tcp::socket& in, beast::flat_buffer& in_buf, std::uint64_t remaining,
                                       tcp::socket& out, const std::string& head, phase read_phase,
                                       config::duration read_timeout, phase write_phase,
                                       config::duration write_timeout) {
    constexpr std::size_t max_read = runtime::buffer_pool::block_size;
    bool head_sent = false;
    for (;;) {
      if (in_buf.size() == 0 && remaining != 0) {
        arm(read_phase, read_timeout);
        // Never read past this message: what follows belongs to the next one.
        const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(remaining, max_read));
        const auto ec = co_await read_more(in, in_buf, want, head_sent);
        if (ec) co_return timed_out_ ? relay_result::timed_out : relay_result::in_error;
      }
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining, in_buf.size()));
      std::array<asio::const_buffer, 2> bufs{asio::buffer(head), asio::buffer(in_buf.data().data(), n)};
      arm(write_phase, write_timeout);
      const auto ec = co_await write_all(out, head_sent ? bufs.data() + 1 : bufs.data(), head_sent ? 1 : 2);
      if (ec) co_return timed_out_ ? relay_result::timed_out : relay_result::out_error;
      head_sent = true;
      in_buf.consume(n);
      remaining -= n;
      if (remaining == 0) co_return relay_result::ok;
    }
  }

  // Streams a message body from `in` to `out` through one worker buffer:
  // read at most a buffer, write it (with the head first), repeat. A slow
  // writer stops the reads: back-pressure without queueing.
  template <bool is_request>
  awaitable<relay_result> relay(tcp::socket& in, beast::flat_buffer& in_buf,
                                bhttp::parser<is_request, bhttp::buffer_body, fields_allocator>& p, tcp::socket& out,
                                framing f,
                                const std::string& head, phase read_phase, config::duration read_timeout,
                                phase write_phase, config::duration write_timeout) {
    runtime::borrowed_block chunk(worker_.buffers());
    constexpr std::size_t cap = decltype(chunk)::size();
    auto& body = p.get().body();
    bool head_sent = false;
    for (;;) {
      std::size_t produced = 0;
      if (!p.is_done()) {
        body.data = chunk.get();
        body.size = cap;
        for (;;) {
          if (in_buf.size() != 0) {
            error_code ec;
            const auto used = p.put(in_buf.data(), ec);
            in_buf.consume(used);
            if (ec == bhttp::error::need_buffer) break;
            if (ec == bhttp::error::body_limit) co_return relay_result::in_too_large;
            if (ec && ec != bhttp::error::need_more) co_return relay_result::in_malformed;
            if (p.is_done() || body.size != cap) break;
            if (used != 0 && in_buf.size() != 0) continue;
          }
          arm(read_phase, read_timeout);
          auto ec = co_await read_more(in, in_buf, cap, true);
          if (ec == asio::error::eof) {
            // A close-delimited body ends here; any other framing is truncated.
            p.put_eof(ec);
            if (ec) co_return relay_result::in_error;
            break;
          }
          if (ec) co_return timed_out_ ? relay_result::timed_out : relay_result::in_error;
        }
        produced = cap - body.size;
      }
      const bool last = p.is_done();
      arm(write_phase, write_timeout);
      auto ec = co_await write_piece(out, head_sent ? nullptr : &head, f, chunk.get(), produced, last);
      head_sent = true;
      if (ec) co_return timed_out_ ? relay_result::timed_out : relay_result::out_error;
      if (last) co_return relay_result::ok;
    }
  }

  awaitable<connpool::upstream_ptr> connect(std::size_t ep, const runtime::pool_snapshot& pool) {
    tcp::socket s(worker_.io());
    upstream_sock_ = &s;
    arm(phase::connect, pool.cfg->connect_timeout);
    error_code ec;
    co_await s.async_connect(pool.addrs[ep], asio::redirect_error(use_awaitable, ec));
    upstream_sock_ = nullptr;
    if (ec) {
      log::debug("upstream connect failed", {{"pool", pool.cfg->name},
                                              {"endpoint", pool.labels[ep]},
                                              {"error", timed_out_ ? "timeout" : ec.message()}});
      co_return nullptr;
    }
    s.set_option(tcp::no_delay(true), ec);
    s.non_blocking(true, ec);
    co_return std::make_shared<connpool::upstream_conn>(std::move(s), ep);
  }

  // One request/response exchange. Returns whether to read another request.
  awaitable<bool> exchange() {
    const auto& lim = listener().limits;
    keep_alive_ = true;

    std::size_t head_len = 0;
    switch (co_await read_head(client_, client_buf_, lim.max_header_bytes, read_chunk, true, true, head_len)) {
      case head_result::complete: break;
      case head_result::closed: co_return false;
      case head_result::truncated: co_return false;
      case head_result::timed_out:
        // A client that sent nothing is just idle; one that stalled mid-head gets told.
        if (client_buf_.size() != 0) co_await write_local(local_status::request_timeout, false);
        co_return false;
      case head_result::malformed: co_return co_await reply(local_status::bad_request, false);
      case head_result::too_large: co_return co_await reply(local_status::header_too_large, false);
    }

    // The fields of both heads live in one arena block for this exchange.
    runtime::borrowed_block block(worker_.arenas());
    arena fields_arena(block.get(), block.size());
    const fields_allocator alloc(fields_arena);

    request_parser req(std::piecewise_construct, std::make_tuple(), std::make_tuple(alloc));
    req.header_limit(static_cast<std::uint32_t>(head_len + 1));
    req.body_limit(lim.max_body_bytes ? lim.max_body_bytes : unlimited);
    {
      error_code ec;
      const auto used = req.put(asio::buffer(client_buf_.data().data(), head_len), ec);
      client_buf_.consume(used);
      if (ec) log::debug("bad request head", {{"error", ec.message()}});
      if (ec == bhttp::error::body_limit) co_return co_await reply(local_status::payload_too_large, false);
      if (ec || !req.is_header_done()) co_return co_await reply(local_status::bad_request, false);
    }
    req.eager(true);  // from here on, parse as much body as the buffer holds
    auto& msg = req.get();
    keep_alive_ = msg.keep_alive();
    if (!acceptable(msg, req)) co_return co_await reply(local_status::bad_request, false);

    // Route.
    const auto& lsnap = snap_->listeners[listener_index_];
    const router::header_source headers{&msg, [](const void* ctx, std::string_view name) -> std::optional<std::string_view> {
                                          const auto& f = *static_cast<const fields*>(ctx);
                                          auto it = f.find(name);
                                          if (it == f.end()) return std::nullopt;
                                          return it->value();
                                        }};
    auto host = msg[bhttp::field::host];
    auto route_index = lsnap.routes.match(host, msg.target(), headers);
    if (!route_index) co_return co_await reply(local_status::not_found, req.is_done());
    const auto& route = lsnap.cfg->routes[*route_index];
    const auto& pool = snap_->pools[route.pool_index];
    auto& wpool = worker_.pool(route.pool_index);

    const bool upgrade = is_websocket_upgrade(msg);
    const bool has_body = !req.is_done();
    bool req_done = !has_body;  // the whole request has been read from the client
    const bool expect_continue = has_body && beast::iequals(msg[bhttp::field::expect], "100-continue");
    const bool is_head = msg.method() == bhttp::verb::head;
    const unsigned client_version = msg.version();
    const framing req_framing = !has_body        ? framing::none
                                : req.chunked() ? framing::chunked
                                                : framing::length;
    head_out_.clear();
    write_request_head(head_out_, msg, req_framing, req.content_length().value_or(0), client_ip_, upgrade, route);

    // Pick, connect, send; retry where nothing reached the upstream's application.
    tried_set tried(pool.addrs.size());
    connpool::upstream_ptr up;
    std::optional<response_parser> res;
    int stale_retries = 0;
    std::optional<std::size_t> reconnect_to;
    for (;;) {
      std::size_t ep;
      bool reused = false;
      if (reconnect_to) {
        ep = *reconnect_to;
        reconnect_to.reset();
      } else {
        const int pick = wpool.balancer.pick([&](std::size_t i) { return !tried.test(i); });
        if (pick < 0)
          co_return co_await reply(tried.any() ? local_status::bad_gateway : local_status::service_unavailable,
                                   req_done);
        ep = static_cast<std::size_t>(pick);
        up = wpool.idle.acquire(ep);
        reused = up != nullptr;
      }
      if (!up) {
        up = co_await connect(ep, pool);
        if (!up) {
          tried.set(ep);  // connection refused / timed out: try another endpoint
          continue;
        }
      }
      upstream_sock_ = &up->sock;

      // Request head (and body).
      bool sent = true;
      if (!has_body) {
        arm(phase::upstream_write, route.timeout);
        sent = !co_await write_all(up->sock, asio::buffer(head_out_));
      } else {
        if (expect_continue && client_buf_.size() == 0) {
          co_await write_local(local_status::continue_, true);
        }
        switch (co_await relay_body(client_, client_buf_, req, up->sock, req_framing, head_out_, phase::client_body,
                                    lim.idle_timeout, phase::upstream_write, route.timeout)) {
          case relay_result::ok: req_done = true; break;
          case relay_result::in_malformed: drop(up); co_return co_await reply(local_status::bad_request, false);
          case relay_result::in_too_large: drop(up); co_return co_await reply(local_status::payload_too_large, false);
          case relay_result::in_error: drop(up); co_return false;  // client went away mid-body
          case relay_result::timed_out:
          case relay_result::out_error: sent = false; break;
        }
      }
      if (!sent) {
        drop(up);
        if (reused && !has_body && stale_retries++ < max_stale_retries) {
          reconnect_to = ep;
          continue;
        }
        co_return co_await reply(local_status::bad_gateway, req_done);
      }

      // Response head; interim 1xx responses (other than 101) are skipped.
      head_result hr;
      for (;;) {
        res.emplace(std::piecewise_construct, std::make_tuple(), std::make_tuple(alloc));
        res->header_limit(static_cast<std::uint32_t>(max_upstream_head + 1));
        res->body_limit(unlimited);
        if (is_head) res->skip(true);
        arm(phase::upstream_head, route.timeout);
        std::size_t len = 0;
        hr = co_await read_head(up->sock, up->buf, max_upstream_head, upstream_read_chunk, false, false, len);
        if (hr != head_result::complete) break;
        error_code ec;
        const auto used = res->put(asio::buffer(up->buf.data().data(), len), ec);
        up->buf.consume(used);
        if (ec || !res->is_header_done()) {
          log::debug("bad upstream response head", {{"error", ec.message()}});
          hr = head_result::malformed;
          break;
        }
        res->eager(true);
        const auto status = res->get().result_int();
        if (status >= 200 || status == 101) break;
      }
      if (hr == head_result::complete) break;
      const bool nothing_received = hr == head_result::closed;
      drop(up);
      if (hr == head_result::timed_out) co_return co_await reply(local_status::gateway_timeout, req_done);
      if (nothing_received && reused && !has_body && stale_retries++ < max_stale_retries) {
        reconnect_to = ep;  // the idle connection died under us: not the request's fault
        continue;
      }
      co_return co_await reply(local_status::bad_gateway, req_done);
    }

    // Response to the client, in its HTTP version, framed by lb.
    const auto& rmsg = res->get();
    const bool upgraded = upgrade && rmsg.result() == bhttp::status::switching_protocols;
    bool keep_client = keep_alive_ && req_done && !draining_ && !upgraded;
    framing res_framing = framing::none;
    if (upgraded) {
      res_framing = framing::none;
    } else if (res->chunked()) {
      res_framing = client_version == 11 ? framing::chunked : framing::close;  // 1.0 has no chunked coding
    } else if (res->content_length()) {
      res_framing = framing::length;
    } else if (!res->is_done()) {
      // Close-delimited upstream body: re-frame as chunked to keep the client.
      res_framing = client_version == 11 ? framing::chunked : framing::close;
    }
    if (res_framing == framing::close) keep_client = false;
    head_out_.clear();
    write_response_head(head_out_, rmsg, client_version, res_framing, res->content_length().value_or(0),
                        keep_client, upgraded);

    if (res->is_done() || upgraded) {
      arm(phase::client_write, lim.idle_timeout);
      if (co_await write_all(client_, asio::buffer(head_out_))) {
        drop(up);
        co_return false;
      }
    } else {
      const auto r = co_await relay_body(up->sock, up->buf, *res, client_, res_framing, head_out_,
                                         phase::upstream_body, route.timeout, phase::client_write, lim.idle_timeout);
      if (r != relay_result::ok) {
        // Mid-response failure: the client cannot be told with a status any more.
        drop(up);
        co_return false;
      }
    }

    if (upgraded) {
      co_await tunnel(up);
      drop(up);
      co_return false;
    }

    // Reusable only if the response ended by its own framing and nothing extra came.
    if (res->keep_alive() && !res->need_eof() && up->buf.size() == 0 && !draining_) {
      ++up->requests;
      upstream_sock_ = nullptr;
      wpool.idle.release(std::move(up));
    } else {
      drop(up);
    }
    co_return keep_client;
  }

  // Rejects what Beast accepts but a proxy must not forward.
  static bool acceptable(const request_message& msg, const request_parser& req) {
    if (msg.version() != 10 && msg.version() != 11) return false;
    const auto target = msg.target();
    if (target.empty() || (target[0] != '/' && !(target == "*" && msg.method() == bhttp::verb::options)))
      return false;
    if (msg.method() == bhttp::verb::connect) return false;
    const auto hosts = msg.count(bhttp::field::host);
    if (hosts > 1 || (hosts == 0 && msg.version() == 11)) return false;
    // A Transfer-Encoding the parser did not decode as chunked leaves the body
    // length ambiguous between hops.
    if (msg.count(bhttp::field::transfer_encoding) != 0 && !req.chunked()) return false;
    return true;
  }

  static bool is_websocket_upgrade(const request_message& msg) {
    return msg.version() == 11 && msg.method() == bhttp::verb::get && beast::http::token_list(msg[bhttp::field::connection]).exists("upgrade") &&
           beast::iequals(msg[bhttp::field::upgrade], "websocket");
  }

  void drop(connpool::upstream_ptr& up) {
    if (!up) return;
    error_code ignored;
    up->sock.close(ignored);
    up.reset();
    upstream_sock_ = nullptr;
  }

  // Both directions at once after a 101, until either side closes or the
  // connection sits idle for idle_timeout.
  awaitable<void> tunnel(connpool::upstream_ptr up) {
    auto self = shared_from_this();
    arm(phase::tunnel, listener().limits.idle_timeout);
    asio::steady_timer done(worker_.io(), asio::steady_timer::time_point::max());
    bool other_finished = false;
    asio::co_spawn(
        worker_.io(),
        [self, up, &done, &other_finished]() -> awaitable<void> {
          co_await self->pump(up->sock, self->client_, up->buf);
          other_finished = true;
          done.cancel();
        },
        asio::detached);
    co_await pump(client_, up->sock, client_buf_);
    if (!other_finished) {
      error_code ec;
      co_await done.async_wait(asio::redirect_error(use_awaitable, ec));
    }
  }

  awaitable<void> pump(tcp::socket& from, tcp::socket& to, beast::flat_buffer& pending) {
    error_code ec;
    if (pending.size() != 0) {
      co_await asio::async_write(to, pending.data(), asio::redirect_error(use_awaitable, ec));
      pending.consume(pending.size());
    }
    runtime::borrowed_block chunk(worker_.buffers());
    while (!ec) {
      auto n = co_await from.async_read_some(asio::buffer(chunk.get(), chunk.size()),
                                             asio::redirect_error(use_awaitable, ec));
      if (n == 0) break;
      set_deadline(listener().limits.idle_timeout);
      co_await asio::async_write(to, asio::buffer(chunk.get(), n), asio::redirect_error(use_awaitable, ec));
    }
    // Pass the half-close on; the other pump ends when its side closes too.
    error_code ignored;
    to.shutdown(tcp::socket::shutdown_send, ignored);
    if (ec && ec != asio::error::eof) {
      from.close(ignored);
      to.close(ignored);
    }
  }

  runtime::worker& worker_;
  std::size_t listener_index_;
  std::atomic<std::uint64_t>* connections_;
  tcp::socket client_;
  beast::flat_buffer client_buf_;
  std::shared_ptr<const runtime::snapshot> snap_;  // the config this connection started with
  std::string client_ip_;
  std::string head_out_;  // the head being sent, reused across requests
  tcp::socket* upstream_sock_ = nullptr;  // the upstream socket in use, for cancellation
  phase phase_ = phase::head;
  bool timed_out_ = false;
  bool draining_ = false;
  bool idle_swept_ = false;
  bool waiting_ = false;  // between requests, no byte of the next one read yet
  bool parked_ = false;           // idle: no coroutine, no buffer, waiting for readability
  bool served_ = false;           // a request has been read on this connection
  bool park_requested_ = false;   // the sweep cancelled the read to park
  bool keep_alive_ = true;
};

}  // namespace

void start_session(runtime::worker& w, std::size_t listener_index, tcp::socket sock,
                   std::atomic<std::uint64_t>* connections) {
  auto s = std::make_shared<session>(w, listener_index, std::move(sock), connections);
  if (w.draining()) s->on_drain();
  s->start();
}

}  // namespace lb::proto::http
