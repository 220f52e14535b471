// One HTTP/1 request/response exchange: read and check the head, route,
// forward (retries in forwarder.cc), relay the response and any upgrade.
#include <algorithm>
#include <cstring>
#include <exception>
#include <new>
#include <optional>

#include <boost/beast/core/string.hpp>

#include "lb/core/arena.h"
#include "lb/listener/client_limits.h"
#include "lb/listener/route_limits.h"
#include "lb/proto/client_cert_fields.h"
#include "lb/proto/http/body_limit.h"
#include "lb/proto/http/forwarder.h"
#include "lb/proto/http/hash_key.h"
#include "lb/proto/http/head_limits.h"
#include "lb/proto/http/http1_connection.h"
#include "lb/proto/http/relay.h"
#include "lb/proto/http/request_policy.h"
#include "lb/proto/http/rewrite.h"
#include "lb/proto/http/trace_context.h"
#include "lb/proto/http/upload.h"
#include "lb/proto/proxy/stage.h"
#include "lb/proto/tcp/pump.h"
#include "lb/runtime/memory.h"
#include "lb/upstream/affinity.h"

namespace lb::proto::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using asio::awaitable;
using clock = std::chrono::steady_clock;

template <class Message>
bool connection::decide_trace(const Message& msg) {
  const auto& l = listener();
  if (!l.request_id.enabled && !l.tracing.enabled) return false;
  incoming_trace in;
  for (const auto& f : msg)
    if (f.name() == bhttp::field::unknown) in.see(f.name_string(), f.value());
  decide_ids(ex_.ids, l, in, worker_.rng(), [&] { return proxy::trusted(l.request_id.trust_from, conn_.peer); });
  return true;
}

awaitable<bool> connection::exchange() {
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
  const router::header_source headers{
      &msg,
      [](const void* ctx, std::string_view name) -> std::optional<std::string_view> {
        const auto& f = *static_cast<const fields*>(ctx);
        auto it = f.find(name);
        if (it == f.end()) return std::nullopt;
        return it->value();
      },
      [](const void* ctx, std::string_view name) { return find_cookie(*static_cast<const fields*>(ctx), name); }};
  const auto route_index = lsnap().routes.match(msg[bhttp::field::host], msg.target(), headers);
  if (!route_index) co_return co_await reply(local_status::not_found, "no_route", req.is_done());
  ex_.route_index = route_index;
  const auto& route = listener().routes[*route_index];
  if (!route.allow_from.empty() && !lb::listener::in_blocks(route.allow_from, client_key_))
    co_return co_await reply(local_status::forbidden, "source_not_allowed", req.is_done());
  // Held until the exchange ends: the client's request in flight on the route.
  lb::listener::route_slot route_slot;
  if (const auto& rl = route.client_limits) {
    const auto v = lb::listener::admit_route_request(worker_.id(), *rl, *lsnap().route_stats[*route_index], client_key_,
                                                     ex_.start, route_slot);
    if (v.refused) co_return co_await reply_too_many(v.retry_after, req.is_done(), v.reason);
  }
  if (const auto& rd = route.redirect_https)
    co_return co_await redirect(*rd, msg[bhttp::field::host], msg.target(),
                                msg.method() == bhttp::verb::get || msg.method() == bhttp::verb::head,
                                msg.version() == 11, req.is_done());
  if (route.max_body_bytes != 0 && !req.is_done()) {
    // The route's limit under the listener's (applied with the head): a
    // declared length over it is refused now; a chunked body is counted
    // from here by the parser (relay: in_too_large, 413).
    const auto cap = body_limit(lim, route);
    if (req.content_length().value_or(0) > cap)
      co_return co_await reply(local_status::payload_too_large, "body_too_large", false);
    req.body_limit(cap);
  }
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
  // A route's rewrite changes the target sent upstream, not the one routed or logged.
  static thread_local std::string rewritten;
  const bool rewrites = route.rewrite && lsnap().routes.rewrite(*route_index, msg.target(), rewritten);
  write_request_head(up_head_, msg, req_framing, content_length, client_ip_, lsnap().scheme, upgrade, route,
                     trace_fields ? &ex_.ids : nullptr,
                     make_client_cert_fields(listener().tls, client_id_), rewrites ? rewritten : std::string_view());
  const std::uint64_t hash =
      config::is_hash_balancer(pool.cfg->balancer) ? request_hash(pool.cfg->hash_key, client_ip_, msg) : 0;

  std::size_t sticky = upstream::no_endpoint;
  if (const auto& affinity = pool.cfg->affinity)
    if (const auto v = find_cookie(msg, affinity->name)) sticky = upstream::affinity_endpoint(pool, *v);

  std::optional<upload> streamed;
  // The upload coroutine reads the request through this frame (`req`): an
  // exception (out of memory) must not unwind the frame under it.
  std::exception_ptr out_of_memory;
  try {
    if (has_body && !body_buffered) {
      streamed.emplace(upload::params{*client_, client_buf_, req, req_framing, up_head_, lim.idle_timeout,
                                      route.write_timeout(), *this, worker_, ex_,
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
                          msg.method() == bhttp::verb::head,
                          sticky};
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
    // A response from another endpoint than the cookie named (a new
    // client, or its endpoint gone or failing) names the one that answered.
    std::string_view set_cookie;
    if (pool.cfg->affinity && fwd.endpoint != sticky) {
      static thread_local std::string value;  // reused: no allocation per response
      upstream::affinity_cookie_value(value, pool, fwd.endpoint);
      set_cookie = value;
    }
    head_out_.clear();
    head_out_.reserve(fwd.head_len + (ex_.ids.request_id.empty() ? 64 : 64 + 160) + set_cookie.size());
    write_response_head(head_out_, rmsg, client_version, res_framing, res->content_length().value_or(0), keep_client,
                        upgraded, ex_.ids.request_id);
    if (!set_cookie.empty()) add_set_cookie(head_out_, set_cookie);
    if (keep_client || upgraded) keep_alive_nodelay();

    bool response_ok = true;
    answering_ = true;  // from here on a failure cannot be answered with a status
    if (res->is_done() || upgraded) {
      arm(lim.idle_timeout);
      io::buffer_seq bufs(asio::buffer(head_out_));
      io::error_code wec;
      if (!client_->write_now(bufs, wec)) wec = co_await client_->write(bufs);
      response_ok = !wec;
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
}  // namespace lb::proto::http
