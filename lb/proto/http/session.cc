#include "lb/proto/http/session.h"

#include <unistd.h>

#include <array>
#include <chrono>
#include <limits>
#include <optional>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>

#include "lb/accesslog/access_log.h"
#include "lb/balancer/balancer.h"
#include "lb/core/arena.h"
#include "lb/core/ip_text.h"
#include "lb/core/log.h"
#include "lb/proto/http/head_scan.h"
#include "lb/proto/http/local_response.h"
#include "lb/proto/http/rewrite.h"
#include "lb/proto/http/socket_io.h"
#include "lb/runtime/worker.h"
#include "lb/upstream/selection.h"

namespace lb::proto::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using asio::awaitable;
using asio::use_awaitable;
using clock = std::chrono::steady_clock;

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

std::string_view view(const beast::flat_buffer& b) { return {static_cast<const char*>(b.data().data()), b.size()}; }

double seconds_between(clock::time_point a, clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

enum class head_result { complete, closed, truncated, malformed, too_large, timed_out };

enum class relay_result { ok, in_error, in_malformed, in_too_large, out_error, timed_out };

bool is_idempotent(bhttp::verb v) {
  switch (v) {
    case bhttp::verb::get:
    case bhttp::verb::head:
    case bhttp::verb::put:
    case bhttp::verb::delete_:
    case bhttp::verb::options:
    case bhttp::verb::trace: return true;
    default: return false;
  }
}

// The value of cookie `name` in the Cookie header(s), or empty.
std::string_view cookie_value(const fields& f, std::string_view name) {
  for (auto [it, end] = f.equal_range(bhttp::field::cookie); it != end; ++it) {
    std::string_view v = it->value();
    while (!v.empty()) {
      const auto semi = v.find(';');
      auto pair = v.substr(0, semi);
      while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
      const auto eq = pair.find('=');
      if (eq != std::string_view::npos && pair.substr(0, eq) == name) return pair.substr(eq + 1);
      if (semi == std::string_view::npos) break;
      v.remove_prefix(semi + 1);
    }
  }
  return {};
}

// The request body as the uploader (the coroutine streaming it upstream
// while the response is read) left it.
struct upload_state {
  bool running = false;
  bool done = false;
  relay_result result = relay_result::ok;
  // Cancelled when done: an event to wait on. Made only when an upload
  // starts, so an exchange without a streamed body builds no timer.
  std::optional<asio::steady_timer> finished;
};

class session final : public runtime::session_base, public std::enable_shared_from_this<session> {
 public:
  // `conn`: a new connection's peer, or what a parked one carried.
  session(runtime::worker& w, runtime::connection_ticket ticket, tcp::socket sock, const runtime::resume_state& conn,
          std::size_t listener_index)
      : session_base(std::move(ticket)),
        worker_(w),
        client_(std::move(sock)),
        ws_(w.current()),
        listener_index_(listener_index),
        conn_(conn),
        client_ip_(ip_text(conn.peer)),
        parked_once_(conn.exchanges != 0) {
    error_code ignored;
    client_.non_blocking(true, ignored);
    worker_.link(this);
  }

  ~session() override { worker_.unlink(this); }

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

  // A parked connection's socket is readable: serve it again.
  static void resume(runtime::worker& w, runtime::connection_ticket&& ticket, int fd, const runtime::resume_state& st,
                     clock::time_point deadline) {
    tcp::socket sock(w.io());
    error_code ec;
    sock.assign(st.peer.is_v6() ? tcp::v6() : tcp::v4(), fd, ec);
    if (ec) {
      ::close(fd);
      return;
    }
    // Its listener's connections drain when a reload removes it, so it is
    // there; if not, there is no config left to serve it with.
    const auto index = find_listener(*w.current()->snap, ticket.listener().get());
    if (!index) return;  // the socket closes with `sock`
    auto s = std::make_shared<session>(w, std::move(ticket), std::move(sock), st, *index);
    // Parking does not extend the first request's header_timeout (it runs
    // from accept); later requests get theirs from their first byte.
    if (st.exchanges == 0) s->first_head_deadline_ = deadline;
    s->start();
  }

  static std::optional<std::size_t> find_listener(const runtime::snapshot& snap,
                                                  const upstream::listener_live* live) {
    for (std::size_t i = 0; i < snap.listeners.size(); ++i)
      if (snap.listeners[i].live.get() == live) return i;
    return std::nullopt;
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
  // A new request takes the newest snapshot; one whose listener was removed
  // by a reload keeps serving on the snapshot it had.
  void refresh_snapshot() {
    const auto& cur = worker_.current();
    if (cur == ws_) return;
    if (auto i = find_listener(*cur->snap, listener_live())) {
      ws_ = cur;
      listener_index_ = *i;
    }
  }

  const runtime::listener_snapshot& lsnap() const { return ws_->snap->listeners[listener_index_]; }
  const config::listener& listener() const { return *lsnap().cfg; }

  // A new deadline for the operation about to start; clears a stale timeout.
  void arm(config::duration d) {
    timed_out_ = false;
    set_deadline(d);
  }

  void cancel_io() {
    error_code ignored;
    client_.cancel(ignored);
    if (upstream_sock_) upstream_sock_->cancel(ignored);
  }

  // --- connection loop -------------------------------------------------------

  awaitable<void> serve() {
    while (!draining_) {
      refresh_snapshot();
      const auto& lim = listener().limits;
      if (client_buf_.size() == 0) {
        // The first request's head timer runs from accept; later ones get
        // idle_timeout to start and header_timeout from their first byte.
        if (conn_.exchanges == 0 && first_head_deadline_) {
          timed_out_ = false;
          set_deadline_at(*first_head_deadline_);
        } else {
          arm(conn_.exchanges != 0 ? lim.idle_timeout : lim.header_timeout);
        }
        // After its first exchange a connection has not yet shown it is busy:
        // park it at once (a parked connection is a 120-byte record). One
        // that comes back is parked by the sweep only once it goes quiet, so
        // a busy connection does not pay a park per request.
        if (conn_.exchanges == 1 && !parked_once_) {
          parked_ = true;
          co_return;
        }
        const bool got = co_await await_request();
        if (parked_) co_return;  // start()'s completion parks the connection
        if (!got) break;
        refresh_snapshot();  // a reload may have landed while it waited
        if (conn_.exchanges != 0) arm(listener().limits.header_timeout);
      } else {
        arm(lim.header_timeout);  // pipelined bytes already buffered
      }
      ++conn_.exchanges;
      if (!co_await exchange()) break;
    }
    close();
  }

  // Like nginx's tcp_nodelay: only a connection that stays open needs Nagle
  // off (so the tail of a response is not held back waiting for an ACK); a
  // connection that closes after its response flushes it with the FIN, and
  // one request per connection saves the syscall.
  void keep_alive_nodelay() {
    if (conn_.nodelay) return;
    error_code ignored;
    client_.set_option(tcp::no_delay(true), ignored);
    conn_.nodelay = true;
  }

  // close() sends the FIN after any unsent data by itself: a shutdown first
  // would only cost a syscall per connection.
  void close() {
    clear_deadline();
    error_code ignored;
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

  // An idle connection leaves its session and Asio for the worker's parking
  // lot, keeping only what resuming needs. The deadline set before parking
  // (idle_timeout) goes with it.
  void park() {
    if (draining_) {
      close();
      return;
    }
    error_code ec;
    const int fd = client_.release(ec);
    if (ec) {
      close();
      return;
    }
    worker_.parking().park(std::move(ticket_), fd, conn_, deadline(), &session::resume);
  }

  // --- reading heads, answering locally --------------------------------------

  // Reads a message head into `buf` (which may already hold part of it).
  // `ready`: the socket is known to be readable (read before waiting).
  awaitable<head_result> read_head(tcp::socket& s, beast::flat_buffer& buf, std::size_t limit, std::size_t chunk,
                                   bool skip_empty_lines, bool ready, std::size_t& length) {
    head_scanner scanner;
    for (;;) {
      if (skip_empty_lines) {
        if (auto n = leading_empty_lines(view(buf))) buf.consume(n), scanner.reset();
      }
      switch (scanner.scan(view(buf))) {
        case head_scanner::state::complete:
          length = scanner.length();
          co_return length > limit ? head_result::too_large : head_result::complete;
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
    arm(listener().limits.idle_timeout);
    if (keep_alive) keep_alive_nodelay();
    const auto wire = local_response(s, keep_alive);
    if (!co_await write_all(client_, asio::buffer(wire))) bytes_out_ += wire.size();
  }

  // Answers with an error of lb's own; returns whether the connection stays open.
  awaitable<bool> reply(local_status s, std::string_view reason, bool request_done) {
    status_ = static_cast<unsigned>(s);
    reason_ = reason;
    const bool keep = request_done && !draining_ && !closes_connection(s) && keep_alive_;
    co_await write_local(s, keep);
    co_return keep;
  }

  // --- bodies -----------------------------------------------------------------

  // Streams a message body to `out` after `head`. A Content-Length body goes
  // from the read buffer to the socket as it is (no parsing, no copy); a
  // chunked or close-delimited one through the parser (it must be decoded and
  // validated to be re-framed). `moved` counts body bytes taken from `in`.
  template <bool is_request>
  awaitable<relay_result> relay_body(tcp::socket& in, beast::flat_buffer& in_buf,
                                     bhttp::parser<is_request, bhttp::buffer_body, fields_allocator>& p,
                                     tcp::socket& out, framing f, const std::string& head,
                                     config::duration read_timeout, config::duration write_timeout,
                                     std::uint64_t& moved) {
    // Not a coroutine: it picks one and hands it back, costing no frame of its own.
    if (!p.chunked() && p.content_length())
      return relay_length(in, in_buf, *p.content_length(), out, head, read_timeout, write_timeout, moved);
    return relay_parsed(in, in_buf, p, out, f, head, read_timeout, write_timeout, moved);
  }

  awaitable<relay_result> relay_length(tcp::socket& in, beast::flat_buffer& in_buf, std::uint64_t remaining,
                                       tcp::socket& out, const std::string& head,
                                       config::duration read_timeout, config::duration write_timeout,
                                       std::uint64_t& moved) {
    constexpr std::size_t max_read = runtime::buffer_pool::block_size;
    bool head_sent = false;
    for (;;) {
      if (in_buf.size() == 0 && remaining != 0) {
        arm(read_timeout);
        // Never read past this message: what follows belongs to the next one.
        const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(remaining, max_read));
        const auto ec = co_await read_more(in, in_buf, want, head_sent);
        if (ec) co_return timed_out_ ? relay_result::timed_out : relay_result::in_error;
      }
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining, in_buf.size()));
      buffer_seq bufs;
      if (!head_sent) bufs.push(asio::buffer(head));
      bufs.push(asio::buffer(in_buf.data().data(), n));
      arm(write_timeout);
      const auto ec = co_await write_all(out, bufs);
      if (ec) co_return timed_out_ ? relay_result::timed_out : relay_result::out_error;
      head_sent = true;
      in_buf.consume(n);
      remaining -= n;
      moved += n;
      if (remaining == 0) co_return relay_result::ok;
    }
  }

  // Beast's relay pattern: parse at most a buffer of body, write it re-framed
  // (with the head first), repeat. A slow writer stops the reads.
  template <bool is_request>
  awaitable<relay_result> relay_parsed(tcp::socket& in, beast::flat_buffer& in_buf,
                                       bhttp::parser<is_request, bhttp::buffer_body, fields_allocator>& p,
                                       tcp::socket& out, framing f, const std::string& head,
                                       config::duration read_timeout, config::duration write_timeout,
                                       std::uint64_t& moved) {
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
            moved += used;
            if (ec == bhttp::error::need_buffer) break;
            if (ec == bhttp::error::body_limit) co_return relay_result::in_too_large;
            if (ec && ec != bhttp::error::need_more) co_return relay_result::in_malformed;
            if (p.is_done() || body.size != cap) break;
            if (used != 0 && in_buf.size() != 0) continue;
          }
          arm(read_timeout);
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
      arm(write_timeout);
      const auto ec = co_await write_piece(out, head_sent ? nullptr : &head, f, chunk.get(), produced, last);
      head_sent = true;
      if (ec) co_return timed_out_ ? relay_result::timed_out : relay_result::out_error;
      if (last) co_return relay_result::ok;
    }
  }

  // --- upstream ---------------------------------------------------------------

  awaitable<connpool::upstream_ptr> connect(std::size_t ep, const runtime::pool_snapshot& pool) {
    tcp::socket s(worker_.io());
    upstream_sock_ = &s;
    arm(pool.cfg->connect_timeout);
    error_code ec;
    co_await s.async_connect(pool.addrs[ep], asio::redirect_error(use_awaitable, ec));
    upstream_sock_ = nullptr;
    if (ec) {
      pool.live[ep]->stats[worker_.id()].connect_failures.add();
      pool.live[ep]->stats[worker_.id()].responses.add(0);
      // Every request fails this way while an endpoint is down: build no message unless it is logged.
      if (log::enabled(log::level::debug))
        log::debug("upstream connect failed", {{"pool", pool.cfg->name},
                                                {"endpoint", pool.labels[ep]},
                                                {"error", timed_out_ ? "timeout" : ec.message()}});
      co_return nullptr;
    }
    s.set_option(tcp::no_delay(true), ec);
    s.non_blocking(true, ec);
    co_return std::make_shared<connpool::upstream_conn>(std::move(s), ep, pool.live[ep]);
  }

  void drop(connpool::upstream_ptr& up) {
    if (!up) return;
    error_code ignored;
    up->sock.close(ignored);
    up.reset();
    upstream_sock_ = nullptr;
  }

  std::uint64_t request_hash(const runtime::pool_snapshot& pool, const request_message& msg) const {
    const auto& key = pool.cfg->hash_key;
    switch (key.type) {
      case config::hash_key::kind::client_ip: return balancer::hash_key(client_ip_);
      case config::hash_key::kind::header: return balancer::hash_key(msg[key.name]);
      case config::hash_key::kind::cookie: return balancer::hash_key(cookie_value(msg, key.name));
      case config::hash_key::kind::path: {
        auto target = msg.target();
        return balancer::hash_key(target.substr(0, target.find('?')));
      }
    }
    return 0;
  }

  // --- one exchange -----------------------------------------------------------

  // One request/response exchange, accounted for (stats, access log) however
  // it ends. Returns whether to read another request.
  awaitable<bool> exchange() {
    status_ = 0;
    reason_ = {};
    bytes_in_ = bytes_out_ = 0;
    attempts_ = 0;
    upstream_duration_ = -1;
    route_index_.reset();
    endpoint_label_ = {};
    method_ = {};
    target_ = {};
    keep_alive_ = true;
    const auto& lim = listener().limits;

    std::size_t head_len = 0;
    const auto hr = co_await read_head(client_, client_buf_, lim.max_header_bytes, read_chunk, true, true, head_len);
    start_ = clock::now();
    if (worker_.access_log()) start_wall_ = std::chrono::system_clock::now();  // only the log needs it
    if (hr != head_result::complete) {
      // The client went away, or sent nothing before header_timeout (just
      // idle): nothing to answer or account.
      if (hr == head_result::closed || hr == head_result::truncated ||
          (hr == head_result::timed_out && client_buf_.size() == 0))
        co_return false;
      // Every other head error closes the connection after its answer.
      const auto s = hr == head_result::timed_out ? local_status::request_timeout
                     : hr == head_result::malformed ? local_status::bad_request
                                                    : local_status::header_too_large;
      const std::string_view why = hr == head_result::timed_out   ? "header_timeout"
                                   : hr == head_result::malformed ? "malformed_request"
                                                                  : "header_too_large";
      co_await reply(s, why, false);
      account();
      co_return false;
    }
    bytes_in_ += head_len;

    // The fields of both heads live in one arena block for this exchange.
    runtime::borrowed_block block(worker_.arenas());
    arena fields_arena(block.get(), block.size());
    const fields_allocator alloc(fields_arena);
    request_parser req(std::piecewise_construct, std::make_tuple(), std::make_tuple(alloc));
    // Accounting runs at every exit from here on, while the parsed head lives.
    struct finish {
      session& s;
      ~finish() { s.account(); }
    } accounting{*this};
    co_return co_await proxy(req, head_len, alloc);
  }

  awaitable<bool> proxy(request_parser& req, std::size_t head_len, const fields_allocator& alloc) {
    const auto& lim = listener().limits;
    req.header_limit(static_cast<std::uint32_t>(head_len + 1));
    req.body_limit(lim.max_body_bytes ? lim.max_body_bytes : unlimited);
    {
      error_code ec;
      const auto used = req.put(asio::buffer(client_buf_.data().data(), head_len), ec);
      client_buf_.consume(used);
      if (ec == bhttp::error::body_limit)
        co_return co_await reply(local_status::payload_too_large, "body_too_large", false);
      if (ec || !req.is_header_done()) co_return co_await reply(local_status::bad_request, "malformed_request", false);
    }
    req.eager(true);  // from here on, parse as much body as the buffer holds
    auto& msg = req.get();
    method_ = msg.method_string();
    target_ = msg.target();
    keep_alive_ = msg.keep_alive();
    if (!acceptable(msg, req)) co_return co_await reply(local_status::bad_request, "malformed_request", false);

    // Route.
    const router::header_source headers{&msg, [](const void* ctx, std::string_view name) -> std::optional<std::string_view> {
                                          const auto& f = *static_cast<const fields*>(ctx);
                                          auto it = f.find(name);
                                          if (it == f.end()) return std::nullopt;
                                          return it->value();
                                        }};
    const auto route_index = lsnap().routes.match(msg[bhttp::field::host], msg.target(), headers);
    if (!route_index) co_return co_await reply(local_status::not_found, "no_route", req.is_done());
    route_index_ = route_index;
    const auto& route = listener().routes[*route_index];
    const auto& pool = ws_->snap->pools[route.pool_index];
    auto& wpool = ws_->pools[route.pool_index];
    pool_index_ = route.pool_index;

    const bool upgrade = is_websocket_upgrade(msg);
    const bool has_body = !req.is_done();
    const bool chunked_in = req.chunked();
    const auto content_length = req.content_length().value_or(0);
    // A body that arrived whole with the head can be sent again: a retry may
    // replay it. A streamed one cannot.
    const bool body_buffered = has_body && !chunked_in && client_buf_.size() >= content_length;
    const bool replayable = !has_body || body_buffered;
    const bool retry_safe = replayable && is_idempotent(msg.method());
    const bool expect_continue = has_body && beast::iequals(msg[bhttp::field::expect], "100-continue");
    const bool is_head = msg.method() == bhttp::verb::head;
    const unsigned client_version = msg.version();
    bool req_done = !has_body;  // the whole request has been read from the client
    const framing req_framing = !has_body ? framing::none : chunked_in ? framing::chunked : framing::length;
    up_head_.clear();
    up_head_.reserve(head_len + 128);  // one allocation, not a doubling series (a new connection's string is empty)
    write_request_head(up_head_, msg, req_framing, content_length, client_ip_, upgrade, route);
    const std::uint64_t hash = config::is_hash_balancer(pool.cfg->balancer) ? request_hash(pool, msg) : 0;
    const auto& policy = route.retries;
    wpool.retry_tokens = std::min(100.0, wpool.retry_tokens + policy.budget_percent / 100.0);
    auto& pool_stats = pool.stats->stats[worker_.id()];

    upstream::tried_set tried(pool.addrs.size());
    connpool::upstream_ptr up;
    std::optional<response_parser> res;
    upload_state upload;
    std::uint32_t retries = 0;
    int stale_retries = 0;
    std::optional<std::size_t> reconnect_to;
    std::size_t ep = 0;
    std::size_t res_head_len = 0;

    // In-flight accounting for least_request, per attempt.
    struct in_flight_guard {
      upstream::endpoint_live* e = nullptr;
      void set(upstream::endpoint_live* n) {
        reset();
        e = n;
        e->in_flight.fetch_add(1, std::memory_order_relaxed);
      }
      void reset() {
        if (e) e->in_flight.fetch_sub(1, std::memory_order_relaxed);
        e = nullptr;
      }
      ~in_flight_guard() { reset(); }
    } in_flight;

    // Called after the failed endpoint is in `tried`: a retry needs an
    // endpoint left to try, else the real failure is the answer.
    auto may_retry = [&](bool budgeted) {
      if (retries >= policy.attempts || tried.count() >= pool.addrs.size()) return false;
      if (budgeted) {
        if (wpool.retry_tokens < 1) return false;
        wpool.retry_tokens -= 1;
      }
      ++retries;
      pool_stats.retries.add();
      return true;
    };

    for (;;) {
      bool reused = false;
      if (reconnect_to) {
        ep = *reconnect_to;
        reconnect_to.reset();
      } else {
        const auto picked = upstream::pick(pool, wpool, tried, hash, clock::now());
        switch (picked.result) {
          case upstream::pick_result::outcome::picked: break;
          case upstream::pick_result::outcome::all_tried:
            co_return co_await reply(local_status::bad_gateway, "upstream_failed", req_done);
          case upstream::pick_result::outcome::none_healthy:
            if (tried.any()) co_return co_await reply(local_status::bad_gateway, "upstream_failed", req_done);
            co_return co_await reply(local_status::service_unavailable, "no_healthy_endpoint", req_done);
          case upstream::pick_result::outcome::all_full:
            co_return co_await reply(local_status::service_unavailable, "endpoints_full", req_done);
        }
        ep = picked.index;
        up = wpool.idle.acquire(ep);
        reused = up != nullptr;
      }
      endpoint_label_ = pool.labels[ep];
      ++attempts_;
      if (!up) {
        up = co_await connect(ep, pool);
        if (!up) {
          // Nothing reached the upstream: always safe to try another endpoint.
          upstream::record(pool, ep, true, clock::now());
          tried.set(ep);
          if (policy.on_connect_failure && may_retry(false)) continue;
          co_return co_await reply(local_status::bad_gateway, timed_out_ ? "connect_timeout" : "connect_failed",
                                   req_done);
        }
      }
      upstream_sock_ = &up->sock;
      in_flight.set(pool.live[ep].get());
      const auto sent_at = clock::now();

      // Request head (and body).
      bool sent = true;
      if (!has_body) {
        arm(route.timeout);
        sent = !co_await write_all(up->sock, asio::buffer(up_head_));
      } else if (body_buffered) {
        buffer_seq bufs;
        bufs.push(asio::buffer(up_head_));
        bufs.push(asio::buffer(client_buf_.data().data(), content_length));
        arm(route.timeout);
        sent = !co_await write_all(up->sock, bufs);
      } else {
        if (expect_continue && client_buf_.size() == 0) co_await write_local(local_status::continue_, true);
        start_upload(upload, req, up, req_framing, route.timeout);
      }
      if (!sent) {
        drop(up);
        in_flight.reset();
        if (reused && replayable && stale_retries++ < max_stale_retries) {
          reconnect_to = ep;  // the idle connection died under us: not the request's fault
          continue;
        }
        upstream::record(pool, ep, true, clock::now());
        co_return co_await reply(local_status::bad_gateway, "upstream_write_failed", req_done);
      }

      // Response head, while any upload goes on; interim 1xx (but 101) skipped.
      head_result hr;
      for (;;) {
        res.emplace(std::piecewise_construct, std::make_tuple(), std::make_tuple(alloc));
        res->header_limit(static_cast<std::uint32_t>(max_upstream_head + 1));
        res->body_limit(unlimited);
        if (is_head) res->skip(true);
        arm(route.timeout);
        std::size_t len = 0;
        hr = co_await read_head(up->sock, up->buf, max_upstream_head, upstream_read_chunk, false, false, len);
        res_head_len = len;
        if (hr != head_result::complete) break;
        error_code ec;
        const auto used = res->put(asio::buffer(up->buf.data().data(), len), ec);
        up->buf.consume(used);
        if (ec || !res->is_header_done()) {
          hr = head_result::malformed;
          break;
        }
        res->eager(true);
        const auto status = res->get().result_int();
        if (status >= 200 || status == 101) break;
      }

      // The upload failed on the client's side: that decides the answer.
      if (upload.done && upload.result != relay_result::ok && upload.result != relay_result::out_error) {
        drop(up);
        if (upload.result == relay_result::in_malformed)
          co_return co_await reply(local_status::bad_request, "malformed_body", false);
        if (upload.result == relay_result::in_too_large)
          co_return co_await reply(local_status::payload_too_large, "body_too_large", false);
        if (upload.result == relay_result::timed_out)
          co_return co_await reply(local_status::request_timeout, "body_timeout", false);
        co_return false;  // the client went away mid-body
      }

      if (hr != head_result::complete) {
        const bool nothing_received = hr == head_result::closed;
        const bool timed_out = hr == head_result::timed_out;
        co_await finish_upload(upload, true);
        drop(up);
        in_flight.reset();
        pool.live[ep]->stats[worker_.id()].responses.add(0);
        if (nothing_received && reused && replayable && stale_retries++ < max_stale_retries) {
          reconnect_to = ep;
          continue;
        }
        upstream::record(pool, ep, true, clock::now());
        tried.set(ep);
        if (nothing_received && !reused && policy.on_refused_stream && retry_safe && may_retry(true)) continue;
        if (timed_out) co_return co_await reply(local_status::gateway_timeout, "upstream_timeout", req_done);
        co_return co_await reply(local_status::bad_gateway,
                                 hr == head_result::malformed ? "upstream_malformed" : "upstream_reset", req_done);
      }

      const auto status = res->get().result_int();
      const auto answered_at = clock::now();
      upstream_duration_ = seconds_between(sent_at, answered_at);
      pool_stats.response_duration.observe(upstream_duration_);
      pool.live[ep]->stats[worker_.id()].responses.add(status);
      upstream::record(pool, ep, status >= 500, answered_at);
      if (std::find(policy.on_status.begin(), policy.on_status.end(), status) != policy.on_status.end() &&
          retry_safe && !upload.running) {
        tried.set(ep);
        if (may_retry(true)) {
          drop(up);
          in_flight.reset();
          continue;
        }
      }
      break;
    }
    if (body_buffered) {
      client_buf_.consume(content_length);
      bytes_in_ += content_length;
      req_done = true;
    }
    if (upload.done && upload.result == relay_result::ok) req_done = true;

    // Response to the client, in its HTTP version, framed by lb.
    const auto& rmsg = res->get();
    status_ = rmsg.result_int();
    const bool upgraded = upgrade && rmsg.result() == bhttp::status::switching_protocols;
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
    // Keep-alive is decided now, for the head; an upload still running must
    // finish before the connection can be reused (checked below).
    bool keep_client = keep_alive_ && !draining_ && !upgraded && res_framing != framing::close &&
                       (req_done || (upload.running && !upload.done));
    head_out_.clear();
    head_out_.reserve(res_head_len + 64);
    write_response_head(head_out_, rmsg, client_version, res_framing, res->content_length().value_or(0),
                        keep_client, upgraded);
    if (keep_client || upgraded) keep_alive_nodelay();

    bool response_ok = true;
    if (res->is_done() || upgraded) {
      arm(lim.idle_timeout);
      response_ok = !co_await write_all(client_, asio::buffer(head_out_));
      if (response_ok) bytes_out_ += head_out_.size();
    } else {
      std::uint64_t body_bytes = 0;
      const auto r = co_await relay_body(up->sock, up->buf, *res, client_, res_framing, head_out_, route.timeout,
                                         lim.idle_timeout, body_bytes);
      bytes_out_ += head_out_.size() + body_bytes;
      response_ok = r == relay_result::ok;
    }

    // The response is out. An upload still running is one the upstream
    // answered without waiting for: stop it, and the connection with it.
    if (upload.running) {
      co_await finish_upload(upload, !response_ok || !upload.done);
      if (upload.result == relay_result::ok) req_done = true;
      else keep_client = false;
    }
    if (!response_ok) {
      drop(up);
      co_return false;  // mid-response failure: the client cannot be told with a status any more
    }
    if (upgraded) {
      co_await tunnel(up);
      drop(up);
      co_return false;
    }
    in_flight.reset();
    if (req_done && res->keep_alive() && !res->need_eof() && up->buf.size() == 0 && !draining_ &&
        ws_ == worker_.current()) {
      upstream_sock_ = nullptr;
      wpool.idle.release(std::move(up));
    } else {
      drop(up);
    }
    co_return keep_client && req_done;
  }

  // Streams the request body upstream in its own coroutine, so the response
  // can be read (and relayed) at the same time: an upstream that answers
  // while still reading, or early (413), never deadlocks against the upload.
  void start_upload(upload_state& st, request_parser& req, connpool::upstream_ptr up, framing f,
                    config::duration upstream_timeout) {
    st.running = true;
    st.finished.emplace(worker_.io(), asio::steady_timer::time_point::max());
    asio::co_spawn(
        worker_.io(),
        [this, self = shared_from_this(), &st, &req, up, f, upstream_timeout]() -> awaitable<void> {
          std::uint64_t moved = 0;
          st.result = co_await relay_body(client_, client_buf_, req, up->sock, f, up_head_,
                                          listener().limits.idle_timeout, upstream_timeout, moved);
          bytes_in_ += moved;
          st.done = true;
          st.finished->cancel();
          // A client-side failure decides the answer: wake the response reader.
          if (st.result != relay_result::ok && st.result != relay_result::out_error) {
            error_code ignored;
            up->sock.cancel(ignored);
          }
        },
        asio::detached);
  }

  // Waits for a running upload to end; `abort` cancels it first. Its frame
  // references the exchange's state, so the exchange never ends before it.
  awaitable<void> finish_upload(upload_state& st, bool abort) {
    if (!st.running) co_return;
    if (!st.done && abort) cancel_io();
    if (!st.done) {
      error_code ec;
      co_await st.finished->async_wait(asio::redirect_error(use_awaitable, ec));
    }
    st.running = false;
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
    return msg.version() == 11 && msg.method() == bhttp::verb::get &&
           bhttp::token_list(msg[bhttp::field::connection]).exists("upgrade") &&
           beast::iequals(msg[bhttp::field::upgrade], "websocket");
  }

  // Stats and the access log line for the exchange that just ended.
  void account() {
    const auto end = clock::now();
    const double duration = seconds_between(start_, end);
    const unsigned w = worker_.id();
    const auto& ls = lsnap();
    if (route_index_) {
      auto& rs = ls.route_stats[*route_index_]->stats[w];
      rs.responses.add(status_);
      rs.duration.observe(duration);
    } else {
      ls.live->stats[w].unrouted.add(status_);
    }
    if (auto* log = worker_.access_log()) {
      accesslog::record r;
      r.start_unix_us = std::chrono::duration_cast<std::chrono::microseconds>(start_wall_.time_since_epoch()).count();
      r.listener = listener().name;
      if (route_index_) {
        r.route = listener().routes[*route_index_].name;
        r.pool = ws_->snap->pools[pool_index_].cfg->name;
      }
      r.endpoint = endpoint_label_;
      r.client = client_ip_;
      r.method = method_;
      r.path = target_;
      r.status = status_;
      r.bytes_in = bytes_in_;
      r.bytes_out = bytes_out_;
      r.duration = duration;
      r.upstream_duration = upstream_duration_;
      r.reason = reason_;
      r.attempts = attempts_;
      log->append(r);
    }
  }

  // Both directions at once after a 101, until either side closes or the
  // connection sits idle for idle_timeout.
  awaitable<void> tunnel(connpool::upstream_ptr up) {
    auto self = shared_from_this();
    arm(listener().limits.idle_timeout);
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
      ec = co_await write_all(to, pending.data());
      pending.consume(pending.size());
    }
    runtime::borrowed_block chunk(worker_.buffers());
    while (!ec) {
      auto n = co_await from.async_read_some(asio::buffer(chunk.get(), chunk.size()),
                                             asio::redirect_error(use_awaitable, ec));
      if (n == 0) break;
      set_deadline(listener().limits.idle_timeout);
      ec = co_await write_all(to, asio::buffer(chunk.get(), n));
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
  tcp::socket client_;
  beast::flat_buffer client_buf_;
  std::shared_ptr<runtime::worker_snapshot> ws_;  // the config the current request runs on
  std::size_t listener_index_ = 0;                // in ws_->snap->listeners
  runtime::resume_state conn_;  // peer, requests so far, socket flags: what parking keeps
  std::string client_ip_;
  // Set when a connection parked before its first request resumes.
  std::optional<clock::time_point> first_head_deadline_;
  std::string head_out_;  // the response head being sent, reused across requests
  std::string up_head_;   // the request head sent upstream (kept for retries)
  tcp::socket* upstream_sock_ = nullptr;  // the upstream socket in use, for cancellation
  bool timed_out_ = false;
  bool draining_ = false;
  bool idle_swept_ = false;
  bool waiting_ = false;         // between requests, no byte of the next one read yet
  bool parked_ = false;          // idle: hand the connection to the parking lot once the coroutine ends
  bool park_requested_ = false;  // the sweep cancelled the read to park
  const bool parked_once_;       // resumed after its first request: the after-first-request park happened
  bool keep_alive_ = true;

  // What the current exchange did, for stats and the access log.
  clock::time_point start_{};
  std::chrono::system_clock::time_point start_wall_{};
  unsigned status_ = 0;
  std::string_view reason_;
  std::uint64_t bytes_in_ = 0;
  std::uint64_t bytes_out_ = 0;
  std::uint32_t attempts_ = 0;
  double upstream_duration_ = -1;
  std::optional<std::size_t> route_index_;
  std::size_t pool_index_ = 0;
  std::string_view endpoint_label_;
  std::string_view method_;
  std::string_view target_;
};

}  // namespace

void start_session(runtime::worker& w, runtime::connection_ticket ticket, tcp::socket sock,
                   const asio::ip::address& peer, std::size_t listener_index) {
  std::make_shared<session>(w, std::move(ticket), std::move(sock), runtime::resume_state{peer}, listener_index)->start();
}

}  // namespace lb::proto::http
