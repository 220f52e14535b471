#include "lb/proto/http/connection.h"

#include <sys/socket.h>

#include <algorithm>
#include <exception>
#include <new>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>

#include "lb/core/arena.h"
#include "lb/core/ip_text.h"
#include "lb/core/log.h"
#include "lb/listener/client_limits.h"
#include "lb/proto/http/exchange.h"
#include "lb/proto/http/forwarder.h"
#include "lb/proto/http/hash_key.h"
#include "lb/proto/http/head_limits.h"
#include "lb/io/tls_stream.h"
#include "lb/proto/http/local_response.h"
#include "lb/proto/http/redirect.h"
#include "lb/proto/http/relay.h"
#include "lb/proto/http/request_policy.h"
#include "lb/proto/http/rewrite.h"
#include "lb/proto/http/trace_context.h"
#include "lb/proto/http/upload.h"
#include "lb/proto/proxy/stage.h"
#include "lb/proto/tcp/pump.h"
#include "lb/runtime/memory.h"
#include "lb/runtime/worker.h"
#include "lb/tls/client_auth.h"

namespace lb::proto::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using asio::awaitable;
using clock = std::chrono::steady_clock;

namespace {

// First read of a request head (nginx: client_header_buffer_size 1k); larger
// heads grow the buffer up to max_header_bytes.
constexpr std::size_t read_chunk = 1024;
// Reads while lingering: input is dropped, so big bites and few syscalls.
constexpr std::size_t linger_chunk = 16 * 1024;

class connection final : public runtime::session_base, public std::enable_shared_from_this<connection> {
 public:
  // `conn`: a new connection's peer, or what a parked one carried.
  connection(runtime::worker& w, runtime::connection_ticket ticket, std::unique_ptr<io::stream> stream,
             const runtime::resume_state& conn, std::size_t listener_index)
      : session_base(std::move(ticket)),
        worker_(w),
        client_(std::move(stream)),
        ws_(w.current()),
        listener_index_(listener_index),
        conn_(conn),
        client_ip_(ip_text(conn.peer)),
        client_key_(lb::listener::key_of(conn.peer)),
        parked_once_(conn.exchanges != 0) {
    worker_.link(this);
    // Resumed (or out of a TLS handshake) while the worker drains.
    if (worker_.draining()) {
      draining_ = true;
      keep_idle_ = worker_.handing_over();
    }
    // Worked out at the handshake and kept on the SSL (across parking too).
    if (const auto& t = listener().tls; t && t->verify != config::client_verify::off)
      if (const auto* s = dynamic_cast<const io::tls_stream*>(client_.get())) client_id_ = tls::client_identity_of(s->ssl());
  }

  ~connection() override { worker_.unlink(this); }

  void start() {
    asio::co_spawn(worker_.io(), serve(), [self = shared_from_this()](std::exception_ptr e) {
      if (e) {
        // Out of memory outside an exchange (waiting, lingering): the
        // connection ends; its members unwound with the frame.
        if (runtime::memory::is_bad_alloc(e)) {
          runtime::memory::note_failure(runtime::memory::plane::http1);
        } else {
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& x) {
            log::error("session failed", {{"error", x.what()}});
          }
        }
        self->close();
        return;
      }
      if (self->parked_) self->park();
    });
  }

  // A parked connection's socket is readable: serve it again.
  static void resume(runtime::worker& w, runtime::connection_ticket&& ticket, io::released released,
                     const runtime::resume_state& st, clock::time_point deadline) {
    auto stream = io::resume_stream(w.io(), released, st.peer);
    if (!stream) return;
    // Its listener's connections drain when a reload removes it, so it is
    // there; if not, there is no config left to serve it with.
    const auto index = runtime::find_listener(*w.current()->snap, ticket.listener().get());
    if (!index) return;  // the stream closes with `stream`
    auto s = std::make_shared<connection>(w, std::move(ticket), std::move(stream), st, *index);
    // Parking does not extend the first request's header_timeout (it runs
    // from accept); later requests get theirs from their first byte.
    if (st.exchanges == 0) s->first_head_deadline_ = deadline;
    s->start();
  }

  void on_timeout() override {
    if (expire(ex_.deadline, ex_.upload_deadline)) cancel_io();
  }

  void on_drain() override {
    draining_ = true;
    keep_idle_ = worker_.handing_over();
    // An idle connection waiting to exit is woken; its request, if one
    // arrived meanwhile, is still answered (await_request()).
    if (waiting_ && !keep_idle_) cancel_io();
  }

  void on_memory_pressure() override {
    if (waiting_) on_drain();
  }

  void on_force_close() override {
    client_->close();
    if (ex_.upstream) ex_.upstream->close();
  }

  void on_sweep() override {
    // Park a connection that has been waiting for a whole sweep interval.
    if (!waiting_ || (draining_ && !keep_idle_) || parked_ || park_requested_ || client_buf_.size() != 0 || client_->has_buffered_input()) return;
    if (idle_swept_) {
      park_requested_ = true;
      client_->cancel();
    }
    idle_swept_ = true;
  }

 private:
  // A new request takes the newest snapshot; one whose listener was removed
  // by a reload keeps serving on the snapshot it had.
  void refresh_snapshot() {
    const auto& cur = worker_.current();
    if (cur == ws_) return;
    if (auto i = runtime::find_listener(*cur->snap, listener_live())) {
      ws_ = cur;
      listener_index_ = *i;
    }
  }

  const runtime::listener_snapshot& lsnap() const { return ws_->snap->listeners[listener_index_]; }
  const config::listener& listener() const { return *lsnap().cfg; }

  void arm(config::duration d) { session_base::arm(ex_.deadline, d); }

  void cancel_io() {
    client_->cancel();
    if (ex_.upstream) ex_.upstream->cancel();
  }

  // --- connection loop -------------------------------------------------------

  awaitable<void> serve() {
    for (;;) {
      // Draining to exit: answer only a request that has already arrived.
      if (draining_ && !keep_idle_ && !input_waiting()) break;
      refresh_snapshot();
      const auto& lim = listener().limits;
      if (client_buf_.size() == 0) {
        // The first request's head timer runs from accept; later ones get
        // idle_timeout to start and header_timeout from their first byte.
        if (conn_.exchanges == 0 && first_head_deadline_) {
          arm_at(ex_.deadline, *first_head_deadline_);
        } else {
          arm(conn_.exchanges != 0 ? lim.idle_timeout : lim.header_timeout);
        }
        // After its first exchange a connection has not yet shown it is busy:
        // park it at once (a parked connection is a 128-byte record). One
        // that comes back is parked by the sweep only once it goes quiet, so
        // a busy connection does not pay a park per request.
        if (conn_.exchanges == 1 && !parked_once_ && !client_->has_buffered_input()) {
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
      bool more = false;
      bool out_of_memory = false;
      try {
        more = co_await exchange();
      } catch (const std::bad_alloc&) {
        out_of_memory = true;
      }
      if (out_of_memory) {
        co_await answer_out_of_memory();
        break;
      }
      if (!more) break;
    }
    if (linger_) co_await linger();
    close();
  }

  // An exchange ran out of memory: it ended (its frame unwound, releasing
  // what it held), and the connection ends after a 503 when no byte of a
  // response went out yet. The answer is static text: no allocation.
  awaitable<void> answer_out_of_memory() {
    runtime::memory::note_failure(runtime::memory::plane::http1);
    if (answering_ || !client_->is_open()) co_return;
    try {
      const auto wire = local_response(local_status::service_unavailable, false);
      if (!co_await client_->write(asio::buffer(wire))) linger_ = true;  // unread input must not reset the 503
    } catch (const std::bad_alloc&) {
    }
  }

  // Lingering close: the answer is out, but the client may still be sending
  // a body nobody will read. Closing now with unread input would send an RST
  // that can destroy the answer in flight; instead send the FIN and drop
  // input until the client closes or lingering_timeout runs out.
  awaitable<void> linger() {
    const auto t = listener().limits.lingering_timeout;
    if (t.count() <= 0 || !client_->is_open()) co_return;
    client_->shutdown_send();
    arm(t);
    for (;;) {
      client_buf_.clear();
      if (co_await client_->read(client_buf_, linger_chunk, false)) break;
    }
  }

  // Like nginx's tcp_nodelay: only a connection that stays open needs Nagle
  // off (so the tail of a response is not held back waiting for an ACK); a
  // connection that closes after its response flushes it with the FIN, and
  // one request per connection saves the syscall.
  void keep_alive_nodelay() { io::set_no_delay_once(*client_, conn_.nodelay); }

  // close() sends the FIN after any unsent data by itself: a shutdown first
  // would only cost a syscall per connection.
  void close() {
    clear_deadline();
    client_->close();
  }

  // Bytes of a request that are here, read or not (a drain peeks: one
  // syscall, and only while draining).
  bool input_waiting() {
    if (client_buf_.size() != 0 || client_->has_buffered_input()) return true;
    char byte;
    return ::recv(client_->native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
  }

  // Waits for the first bytes of the next request with a queued read (no
  // syscall when the socket is drained). A connection still waiting after a
  // whole sweep interval gets its read cancelled by on_sweep and is parked.
  awaitable<bool> await_request() {
    waiting_ = true;
    idle_swept_ = false;
    auto ec = co_await client_->read(client_buf_, read_chunk, false);
    waiting_ = false;
    if (ec == asio::error::operation_aborted && park_requested_ && !ex_.deadline.fired &&
        (!draining_ || keep_idle_)) {
      park_requested_ = false;
      parked_ = true;
      co_return false;
    }
    park_requested_ = false;
    // Woken by a drain: a request that raced it is served, not dropped
    // (closing with it unread would send an RST).
    if (ec == asio::error::operation_aborted && draining_ && !ex_.deadline.fired && input_waiting())
      ec = co_await client_->read(client_buf_, read_chunk, true);
    co_return !ec;
  }

  // An idle connection leaves its session and Asio for the worker's parking
  // lot, keeping only what resuming needs. The deadline set before parking
  // (idle_timeout) goes with it.
  void park() {
    if (draining_ && !keep_idle_) {
      close();
      return;
    }
    const auto released = client_->release();
    if (released.fd < 0) return;
    worker_.parking().park(std::move(ticket_), released, conn_, ex_.deadline.at, &connection::resume);
  }

  // --- answering locally -------------------------------------------------------

  awaitable<void> write_local(local_status s, bool keep_alive) {
    arm(listener().limits.idle_timeout);
    if (keep_alive) keep_alive_nodelay();
    const auto wire = with_request_id(local_response(s, keep_alive));
    if (!co_await client_->write(asio::buffer(wire))) ex_.bytes_out += wire.size();
  }

  // An answer of lb's own with X-Request-Id as its last field (in the reused
  // response-head buffer) when the exchange has one.
  std::string_view with_request_id(std::string_view wire) {
    if (ex_.ids.request_id.empty()) return wire;
    const auto head_end = wire.find("\r\n\r\n") + 2;
    head_out_.assign(wire.substr(0, head_end));
    detail::append_field(head_out_, "X-Request-Id", ex_.ids.request_id);
    head_out_.append(wire.substr(head_end));
    return head_out_;
  }

  // Answers with an error of lb's own; returns whether the connection stays open.
  awaitable<bool> reply(local_status s, std::string_view reason, bool request_done) {
    ex_.status = static_cast<unsigned>(s);
    ex_.reason = reason;
    ensure_request_id(ex_.ids, listener(), worker_.rng());
    const bool keep = request_done && !draining_ && !closes_connection(s) && ex_.keep_alive;
    linger_ = !request_done;
    co_await write_local(s, keep);
    co_return keep;
  }

  // 429 for a client over its request rate (client_limits): the connection
  // stays open when the request is whole.
  awaitable<bool> reply_too_many(std::uint32_t retry_after, bool request_done) {
    ex_.status = 429;
    ex_.reason = "client_request_rate";
    ensure_request_id(ex_.ids, listener(), worker_.rng());
    const bool keep = request_done && !draining_ && ex_.keep_alive;
    linger_ = !request_done;
    arm(listener().limits.idle_timeout);
    if (keep) keep_alive_nodelay();
    char buf[256];
    const auto wire = with_request_id(std::string_view(buf, too_many_requests(buf, retry_after, keep)));
    if (!co_await client_->write(asio::buffer(wire))) ex_.bytes_out += wire.size();
    co_return keep;
  }

  // `redirect_https`: the same host, path and query over https; a request
  // with no usable Host is a 400.
  awaitable<bool> redirect(const config::redirect_https& rd, std::string_view host, std::string_view target,
                           bool get_or_head, bool http11, bool request_done) {
    up_head_.clear();
    if (!https_location(up_head_, host, target, rd.port))
      co_return co_await reply(local_status::bad_request, "bad_host", request_done);
    const auto status = redirect_status(rd, get_or_head);
    ex_.status = status;
    ex_.reason = "redirect_https";
    const bool keep = request_done && http11 && !draining_ && ex_.keep_alive;
    linger_ = !request_done;
    head_out_.clear();
    write_redirect(head_out_, status, up_head_, keep);
    arm(listener().limits.idle_timeout);
    if (keep) keep_alive_nodelay();
    if (!co_await client_->write(asio::buffer(head_out_))) ex_.bytes_out += head_out_.size();
    co_return keep;
  }

  // --- one exchange -----------------------------------------------------------

  // X-Request-Id and trace context for the parsed request (listener
  // `request_id:`, `tracing:`); returns whether either is on. Neither field
  // is one Beast knows by name, so only the unknown ones are looked at.
  template <class Message>
  bool decide_trace(const Message& msg) {
    const auto& l = listener();
    if (!l.request_id.enabled && !l.tracing.enabled) return false;
    incoming_trace in;
    for (const auto& f : msg)
      if (f.name() == bhttp::field::unknown) in.see(f.name_string(), f.value());
    decide_ids(ex_.ids, l, in, worker_.rng(), [&] { return proxy::trusted(l.request_id.trust_from, conn_.peer); });
    return true;
  }

  // One request/response exchange, accounted for (stats, access log) however
  // it ends. Returns whether to read another request.
  awaitable<bool> exchange() {
    ex_.begin();
    linger_ = false;
    answering_ = false;
    const auto& lim = listener().limits;
    std::size_t head_len = 0;
    // Usually the whole head came with the first read: no coroutine to await.
    auto scanned = scan_head(client_buf_, lim.max_header_bytes, true, head_len);
    if (!scanned)
      scanned = co_await read_head(*client_, client_buf_, lim.max_header_bytes, read_chunk, true, true, head_len,
                                   ex_.deadline);
    const head_result hr = *scanned;
    ex_.start = clock::now();
    if (worker_.access_log()) ex_.start_wall = std::chrono::system_clock::now();  // only the log needs it
    if (hr != head_result::complete) {
      // The client went away, or sent nothing before header_timeout (just
      // idle): nothing to answer or account.
      if (hr == head_result::closed || hr == head_result::truncated ||
          (hr == head_result::timed_out && client_buf_.size() == 0))
        co_return false;
      // Every other head error closes the connection after its answer.
      // A request line that alone passes a limit is a target too long to
      // parse: 414 (RFC 9112 §3), not 431.
      bool line_too_long = false;
      if (hr == head_result::too_large) {
        const auto* b = static_cast<const char*>(client_buf_.data().data());
        const auto* lf = static_cast<const char*>(std::memchr(b, '\n', client_buf_.size()));
        line_too_long = !lf || static_cast<std::size_t>(lf - b) >= std::min<std::size_t>(lim.max_header_bytes,
                                                                                          lim.max_header_line_bytes);
      }
      const auto s = hr == head_result::timed_out   ? local_status::request_timeout
                     : hr == head_result::malformed ? local_status::bad_request
                     : line_too_long                ? local_status::uri_too_long
                                                    : local_status::header_too_large;
      const std::string_view why = hr == head_result::timed_out   ? "header_timeout"
                                   : hr == head_result::malformed ? "malformed_request"
                                   : line_too_long                ? "uri_too_long"
                                                                  : "header_too_large";
      co_await reply(s, why, false);
      account(ex_, worker_, *ws_, listener_index_, client_ip_);
      co_return false;
    }
    ex_.bytes_in += head_len;
    if (const auto s = head_shape_limit(std::string_view(static_cast<const char*>(client_buf_.data().data()), head_len),
                                        lim)) {
      co_await reply(*s, *s == local_status::uri_too_long ? "uri_too_long" : "header_too_large", false);
      account(ex_, worker_, *ws_, listener_index_, client_ip_);
      co_return false;
    }

    // The fields of both heads live in one arena block for this exchange.
    runtime::borrowed_block block(worker_.arenas());
    arena fields_arena(block.get(), block.size());
    const fields_allocator alloc(fields_arena);
    request_parser req(std::piecewise_construct, std::make_tuple(), std::make_tuple(alloc));
    // Accounting runs at every exit from here on, while the parsed head
    // lives. The rest is in this coroutine, not one of its own: a frame per
    // request costs more than the split would buy.
    struct finish {
      connection& c;
      ~finish() { account(c.ex_, c.worker_, *c.ws_, c.listener_index_, c.client_ip_); }
    } accounting{*this};

    req.header_limit(static_cast<std::uint32_t>(head_len + 1));
    req.body_limit(lim.max_body_bytes ? lim.max_body_bytes : unlimited_body);
    {
      io::error_code ec;
      const auto used = req.put(asio::buffer(client_buf_.data().data(), head_len), ec);
      client_buf_.consume(used);
      if (ec == bhttp::error::body_limit)
        co_return co_await reply(local_status::payload_too_large, "body_too_large", false);
      if (ec || !req.is_header_done()) co_return co_await reply(local_status::bad_request, "malformed_request", false);
    }
    req.eager(true);  // from here on, parse as much body as the buffer holds
    auto& msg = req.get();
    ex_.method = msg.method_string();
    ex_.target = msg.target();
    ex_.keep_alive = msg.keep_alive();
    const bool trace_fields = decide_trace(msg);
    if (lim.max_requests_per_connection && conn_.exchanges >= lim.max_requests_per_connection) ex_.keep_alive = false;
    switch (check_request(msg, req.chunked())) {
      case request_check::ok: break;
      case request_check::bad: co_return co_await reply(local_status::bad_request, "malformed_request", false);
      case request_check::not_implemented:
        co_return co_await reply(local_status::not_implemented, "not_implemented", false);
    }
    if (const auto wait = lb::listener::admit_request(worker_.id(), lsnap(), client_key_, ex_.start))
      co_return co_await reply_too_many(wait, req.is_done());
    if (answer_max_forwards_here(msg))
      co_return co_await reply(msg.method() == bhttp::verb::options ? local_status::ok
                                                                    : local_status::method_not_allowed,
                               "max_forwards", req.is_done());
    if (const auto& rd = listener().redirect_https)
      co_return co_await redirect(*rd, msg[bhttp::field::host], msg.target(),
                                  msg.method() == bhttp::verb::get || msg.method() == bhttp::verb::head,
                                  msg.version() == 11, req.is_done());

    // Route.
    const router::header_source headers{&msg, [](const void* ctx, std::string_view name) -> std::optional<std::string_view> {
                                          const auto& f = *static_cast<const fields*>(ctx);
                                          auto it = f.find(name);
                                          if (it == f.end()) return std::nullopt;
                                          return it->value();
                                        }};
    const auto route_index = lsnap().routes.match(msg[bhttp::field::host], msg.target(), headers);
    if (!route_index) co_return co_await reply(local_status::not_found, "no_route", req.is_done());
    ex_.route_index = route_index;
    const auto& route = listener().routes[*route_index];
    const auto& pool = ws_->snap->pools[route.pool_index];
    auto& wpool = ws_->pools[route.pool_index];
    ex_.pool_index = route.pool_index;

    const bool upgrade = is_websocket_upgrade(msg);
    const bool has_body = !req.is_done();
    const auto content_length = req.content_length().value_or(0);
    // A body that arrived whole with the head can be sent again: a retry may
    // replay it. A streamed one cannot.
    const bool body_buffered = has_body && !req.chunked() && client_buf_.size() >= content_length;
    const unsigned client_version = msg.version();
    bool req_done = !has_body;  // the whole request has been read from the client
    const framing req_framing = request_framing(has_body, req.chunked());
    up_head_.clear();
    // One allocation, not a doubling series (a new connection's string is
    // empty); room for lb's X-Request-Id and traceparent too.
    up_head_.reserve(head_len + (trace_fields ? 256 : 128));
    write_request_head(up_head_, msg, req_framing, content_length, client_ip_, lsnap().scheme, upgrade, route,
                       trace_fields ? &ex_.ids : nullptr,
                       make_client_cert_fields(listener().tls, client_id_));
    const std::uint64_t hash =
        config::is_hash_balancer(pool.cfg->balancer) ? request_hash(pool.cfg->hash_key, client_ip_, msg) : 0;

    std::optional<upload> streamed;
    // The upload coroutine reads the request through this frame (`req`): an
    // exception (out of memory) must not unwind the frame under it.
    std::exception_ptr out_of_memory;
    try {
      if (has_body && !body_buffered) {
        streamed.emplace(upload::params{*client_, client_buf_, req, req_framing, up_head_, lim.idle_timeout,
                                        route.timeout, *this, worker_, ex_,
                                        // Never a 1xx to an HTTP/1.0 client (RFC 9110 §15.2).
                                        client_version == 11 &&
                                            beast::iequals(msg[bhttp::field::expect], "100-continue") &&
                                            client_buf_.size() == 0,
                                        conn_.nodelay, shared_from_this()});
      }
      const request_view rq{up_head_,
                            body_buffered ? asio::const_buffer(client_buf_.data().data(), content_length)
                                          : asio::const_buffer(),
                            streamed ? &*streamed : nullptr,
                            !has_body || body_buffered,
                            is_idempotent(msg.method()),
                            msg.method() == bhttp::verb::head};
      std::optional<response_parser> res;
      forward_context fctx{worker_, *this, ex_};
      auto fwd = co_await forward(fctx, pool, wpool, route, hash, rq, res, alloc);
      if (fwd.what == forward_result::kind::abandoned) co_return false;
      if (fwd.what == forward_result::kind::local)
        co_return co_await reply(fwd.status, fwd.reason, fwd.body_failed ? false : req_done);
      auto& up = fwd.up;
      if (body_buffered) {
        client_buf_.consume(content_length);
        ex_.bytes_in += content_length;
        req_done = true;
      }
      if (streamed && streamed->done() && streamed->result() == relay_result::ok) req_done = true;

      // Response to the client, in its HTTP version, framed by lb.
      const auto& rmsg = res->get();
      ex_.status = rmsg.result_int();
      const bool upgraded = upgrade && rmsg.result() == bhttp::status::switching_protocols;
      // 1xx and 204 carry no framing fields at all (RFC 9110 §8.6, RFC 9112 §6.1).
      const bool no_content = ex_.status == 204 || ex_.status < 200;
      const framing res_framing = response_framing(
          {res->chunked(), res->content_length().has_value() && !no_content, res->is_done()}, client_version, upgraded);
      // Keep-alive is decided now, for the head; an upload still running must
      // finish before the connection can be reused (checked below).
      const bool uploading = streamed && streamed->running() && !streamed->done();
      bool keep_client = keeps_client(ex_.keep_alive, draining_, upgraded, res_framing, req_done, uploading);
      head_out_.clear();
      head_out_.reserve(fwd.head_len + (ex_.ids.request_id.empty() ? 64 : 64 + 160));
      write_response_head(head_out_, rmsg, client_version, res_framing, res->content_length().value_or(0), keep_client,
                          upgraded, ex_.ids.request_id);
      if (keep_client || upgraded) keep_alive_nodelay();

      bool response_ok = true;
      answering_ = true;  // from here on a failure cannot be answered with a status
      if (res->is_done() || upgraded) {
        arm(lim.idle_timeout);
        response_ok = !co_await client_->write(asio::buffer(head_out_));
        if (response_ok) ex_.bytes_out += head_out_.size();
      } else {
        std::uint64_t body_bytes = 0;
        const relay_ends ends{*up->stream,  up->buf, *client_, head_out_, route.timeout, lim.idle_timeout,
                              *this,         ex_.deadline, worker_.buffers()};
        const auto r = co_await relay_body(ends, *res, res_framing, body_bytes);
        ex_.bytes_out += head_out_.size() + body_bytes;
        response_ok = r == relay_result::ok;
      }

      // The response is out. An upload still running is one the upstream
      // answered without waiting for: stop it, and the connection with it.
      if (streamed && streamed->running()) {
        co_await streamed->finish(!response_ok || !streamed->done());
        if (streamed->result() == relay_result::ok) req_done = true;
        else keep_client = false;
      }
      linger_ = !req_done && !upgraded;
      if (!response_ok) {
        drop_upstream(ex_, up);
        co_return false;  // mid-response failure: the client cannot be told with a status any more
      }
      if (upgraded) {
        co_await tcp::pump_both(worker_, {*client_, client_buf_}, {*up->stream, up->buf},
                                {*this, ex_.deadline, lim.idle_timeout}, shared_from_this());
        drop_upstream(ex_, up);
        co_return false;
      }
      fwd.in_flight.reset();
      if (req_done && res->keep_alive() && !res->need_eof() && up->buf.size() == 0 && !draining_ &&
          ws_ == worker_.current()) {
        ex_.upstream = nullptr;
        wpool.idle.release(std::move(up));
      } else {
        drop_upstream(ex_, up);
      }
      co_return keep_client && req_done;
    } catch (const std::bad_alloc&) {
      out_of_memory = std::current_exception();
    }
    if (streamed && streamed->running()) co_await streamed->finish(true);
    std::rethrow_exception(out_of_memory);
  }

  runtime::worker& worker_;
  std::unique_ptr<io::stream> client_;
  beast::flat_buffer client_buf_;
  std::shared_ptr<runtime::worker_snapshot> ws_;  // the config the current request runs on
  std::size_t listener_index_ = 0;                // in ws_->snap->listeners
  runtime::resume_state conn_;  // peer, requests so far, socket flags: what parking keeps
  std::string client_ip_;
  lb::listener::client_key client_key_;  // for client_limits' request rate
  const tls::client_identity* client_id_ = nullptr;  // the verified client certificate's, owned by the SSL
  // Set when a connection parked before its first request resumes.
  std::optional<clock::time_point> first_head_deadline_;
  std::string head_out_;  // the response head being sent, reused across requests
  std::string up_head_;   // the request head sent upstream (kept for retries)
  struct exchange ex_;    // the exchange in progress (one at a time on HTTP/1)
  bool draining_ = false;
  bool keep_idle_ = false;  // draining for an upgrade's handover: wait for the next request
  bool linger_ = false;  // the last answer went out before the request was read whole
  bool answering_ = false;  // the response to the exchange in progress has begun
  bool idle_swept_ = false;
  bool waiting_ = false;         // between requests, no byte of the next one read yet
  bool parked_ = false;          // idle: hand the connection to the parking lot once the coroutine ends
  bool park_requested_ = false;  // the sweep cancelled the read to park
  const bool parked_once_;       // resumed after its first request: the after-first-request park happened
};

}  // namespace

void start_connection(runtime::worker& w, listener::accepted_connection&& c) {
  std::make_shared<connection>(w, std::move(c.ticket), std::move(c.stream), runtime::resume_state{c.peer},
                               c.listener_index)
      ->start();
}

}  // namespace lb::proto::http
