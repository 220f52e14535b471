#include "lb/proto/h2/stream.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <exception>
#include <new>
#include <optional>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/string.hpp>

#include "lb/core/cookie.h"
#include "lb/core/nghttp2_fields.h"
#include "lb/proto/h2/session.h"
#include "lb/proto/h2/upload.h"
#include "lb/balancer/balancer.h"
#include "lb/listener/client_limits.h"
#include "lb/listener/route_limits.h"
#include "lb/proto/http/body_limit.h"
#include "lb/proto/http/redirect.h"
#include "lb/proto/http/request_policy.h"
#include "lb/proto/http/trace_context.h"
#include "lb/proto/proxy/stage.h"
#include "lb/runtime/memory.h"
#include "lb/runtime/worker.h"
#include "lb/upstream/affinity.h"
#include "lb/tls/client_auth.h"

namespace lb::proto::h2 {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using asio::awaitable;
using clock = std::chrono::steady_clock;

stream::stream(session& s, std::int32_t i)
    : owner(s), id(i), event(s.worker().io(), asio::steady_timer::time_point::max()) {
  // Room for a usual request's header block at once, not grown field by field
  // (five allocations a request, measured).
  block.reserve(header_block_reserve);
  spans.reserve(header_spans_reserve);
}

void stream::add_field(std::string_view name, std::string_view value) {
  const auto at = static_cast<std::uint32_t>(block.size());
  block.append(name).append(value);
  spans.push_back({at, static_cast<std::uint32_t>(name.size()), static_cast<std::uint32_t>(at + name.size()),
                   static_cast<std::uint32_t>(value.size())});
}

void stream::seal_fields() {
  rq.fields.reserve(spans.size());
  for (const auto& s : spans) {
    const std::string_view n(block.data() + s.name_at, s.name_len);
    const std::string_view v(block.data() + s.value_at, s.value_len);
    if (n.empty()) continue;
    if (n[0] != ':') rq.fields.push_back({n, v});
    else if (n == ":method") rq.method = v;
    else if (n == ":scheme") rq.scheme = v;
    else if (n == ":authority") rq.authority = v;
    else if (n == ":path") rq.path = v;
  }
}

awaitable<void> stream::wait() {
  if (closed) co_return;
  event.expires_at(asio::steady_timer::time_point::max());
  io::error_code ec;
  co_await event.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

namespace {

// nghttp2's data source: copies the piece the stream offers, else defers
// until the stream has read the next one from the upstream.
ssize_t read_body(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length, std::uint32_t* flags,
                  nghttp2_data_source* src, void*) {
  auto& st = *static_cast<stream*>(src->ptr);
  const auto n = std::min(length, st.out_len - st.out_off);
  if (n) std::memcpy(buf, st.out_data + st.out_off, n);
  st.out_off += n;
  if (st.out_off == st.out_len) {
    if (st.out_last) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      if (st.out_trailers) *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      st.eof_sent = true;
    }
    st.wake();
    if (n == 0 && !st.out_last) return NGHTTP2_ERR_DEFERRED;
  }
  return static_cast<ssize_t>(n);
}


// Fields an HTTP/2 response must not carry (RFC 9113 §8.2.2).
bool connection_specific(bhttp::field f, std::string_view name) {
  switch (f) {
    case bhttp::field::connection:
    case bhttp::field::keep_alive:
    case bhttp::field::proxy_connection:
    case bhttp::field::transfer_encoding:
    case bhttp::field::upgrade:
    case bhttp::field::te:
    case bhttp::field::trailer: return true;
    default: return f == bhttp::field::unknown && beast::iequals(name, "proxy-connection");
  }
}

// A response lb gives itself: a status and a one-line text body.
// `retry_after` (seconds, when not 0) goes out as Retry-After.
void answer_local(session& s, stream& st, unsigned status, std::string_view reason, std::uint32_t retry_after = 0) {
  st.ex.status = status;
  st.ex.reason = reason;
  http::ensure_request_id(st.ex.ids, s.listener(), s.worker().rng());
  if (st.closed || s.closed()) return;
  char code[4];
  std::to_chars(code, code + 3, status);
  static thread_local std::string body;
  body.assign("lb: ").append(reason).append("\n");
  st.out_data = body.data();  // copied by the data callback before the next local answer
  st.out_len = body.size();
  st.out_off = 0;
  st.out_last = true;
  const auto& id = st.ex.ids.request_id;
  char wait[10];
  const auto wait_len = static_cast<std::size_t>(std::to_chars(wait, wait + sizeof wait, retry_after).ptr - wait);
  // nghttp2 copies the fields on submit.
  nghttp2_nv hdrs[4] = {nv(":status", {code, 3}), nv("content-type", "text/plain")};
  std::size_t fields = 2;
  if (!id.empty()) hdrs[fields++] = nv("x-request-id", id);
  if (retry_after) hdrs[fields++] = nv("retry-after", {wait, wait_len});
  nghttp2_data_provider dp;
  dp.source.ptr = &st;
  dp.read_callback = &read_body;
  nghttp2_submit_response(s.codec(), st.id, hdrs, fields, &dp);
  st.ex.bytes_out += body.size();
  s.want_write();
}

// Cookie `name`: each crumb field is one `name=value` (or several, from HTTP/1 habits).
std::optional<std::string_view> find_cookie(const request_fields& rq, std::string_view name) {
  for (const auto& f : rq.fields)
    if (f.name == "cookie")
      if (const auto v = cookie_in(f.value, name)) return v;
  return std::nullopt;
}

// The hash balancers' key (http::request_hash's, over HTTP/2 fields).
std::uint64_t request_hash(const config::hash_key& key, std::string_view client_ip, const request_fields& rq) {
  switch (key.type) {
    case config::hash_key::kind::client_ip:
    case config::hash_key::kind::sni:  // refused for HTTP routes by cross_check()
      return balancer::hash_key(client_ip);
    case config::hash_key::kind::header: {
      const auto* f = rq.find(key.name);
      return balancer::hash_key(f ? f->value : std::string_view());
    }
    case config::hash_key::kind::cookie:
      return balancer::hash_key(find_cookie(rq, key.name).value_or(std::string_view()));
    case config::hash_key::kind::path: return balancer::hash_key(rq.path.substr(0, rq.path.find('?')));
  }
  return 0;
}

// `redirect_https`: a redirect with no body (nghttp2 copies the fields).
void answer_redirect(session& s, stream& st, unsigned status, std::string_view location) {
  st.ex.status = status;
  st.ex.reason = "redirect_https";
  if (st.closed || s.closed()) return;
  char code[4];
  std::to_chars(code, code + 3, status);
  const nghttp2_nv hdrs[] = {nv(":status", {code, 3}), nv("location", location), nv("content-length", "0")};
  nghttp2_submit_response(s.codec(), st.id, hdrs, std::size(hdrs), nullptr);
  s.want_write();
}

struct local_answer {
  unsigned status;
  std::string_view reason;
};

awaitable<void> serve(session& s, stream& st, runtime::worker_snapshot& ws, std::size_t li);

}  // namespace

awaitable<void> run(std::shared_ptr<session> s, std::shared_ptr<stream> st) {
  auto& ex = st->ex;
  ex.begin();
  ex.start = clock::now();
  auto& w = s->worker();
  if (w.access_log()) ex.start_wall = std::chrono::system_clock::now();
  ex.protocol = http::exchange::h2;
  // The snapshot the request runs on stays alive with the stream.
  s->refresh_snapshot();
  const auto ws = s->snapshot();
  const auto li = s->listener_index();
  // Out of memory, the stream's exchange unwound (releasing what it held)
  // and its connection ends.
  bool out_of_memory = false;
  try {
    co_await serve(*s, *st, *ws, li);
  } catch (const std::bad_alloc&) {
    out_of_memory = true;
  }
  if (out_of_memory) {
    runtime::memory::note_failure(runtime::memory::plane::h2);
    s->on_force_close();  // shut(): closes the client, wakes every stream
  }
  // A local answer's body lives in a thread-local: wait for it to be taken.
  while (!st->closed && !s->closed() && st->out_off < st->out_len) co_await st->wait();
  runtime::session_base::disarm(ex.deadline);
  runtime::session_base::disarm(ex.upload_deadline);
  http::account(ex, w, *ws, li, s->client_ip());
  s->stream_done(st->id);
}

namespace {

// `redirect_https` (the listener's or a route's): the same host, path and
// query over https, or 400 without a usable host.
void redirect(session& s, stream& st, const config::redirect_https& rd) {
  static thread_local std::string location;
  location.clear();
  if (!http::https_location(location, st.rq.host(), st.rq.path, rd.port)) return answer_local(s, st, 400, "bad_host");
  answer_redirect(s, st, http::redirect_status(rd, st.rq.method == "GET" || st.rq.method == "HEAD"), location);
}

awaitable<void> serve(session& s, stream& st, runtime::worker_snapshot& ws, std::size_t li) {
  auto& ex = st.ex;
  const auto& rq = st.rq;
  ex.method = rq.method;
  ex.target = rq.path;
  if (st.too_large) co_return answer_local(s, st, 431, "header_too_large");
  // lb does not tunnel: RFC 9110 §9.3.6 lets a server refuse CONNECT; 501
  // says the method is not implemented here. (Extended CONNECT, RFC 8441,
  // is refused by nghttp2 itself: lb never sends SETTINGS_ENABLE_CONNECT_PROTOCOL.)
  if (rq.method == "CONNECT") co_return answer_local(s, st, 501, "connect_refused");
  const auto& lsnap = ws.snap->listeners[li];
  const auto& listener = *lsnap.cfg;
  // X-Request-Id and trace context (listener `request_id:`, `tracing:`).
  const bool trace_fields = listener.request_id.enabled || listener.tracing.enabled;
  if (trace_fields) {
    http::incoming_trace in;
    for (const auto& f : rq.fields) in.see(f.name, f.value);
    http::decide_ids(ex.ids, listener, in, s.worker().rng(),
                     [&] { return proxy::trusted(listener.request_id.trust_from, s.peer()); });
  }
  // Over the client's request rate: this stream gets 429, the connection goes on.
  if (const auto wait = lb::listener::admit_request(s.worker().id(), lsnap, s.client_key(), ex.start))
    co_return answer_local(s, st, 429, "client_request_rate", wait);
  if (const auto& rd = listener.redirect_https) co_return redirect(s, st, *rd);

  const router::header_source headers{
      &rq,
      [](const void* ctx, std::string_view name) -> std::optional<std::string_view> {
        const auto* f = static_cast<const request_fields*>(ctx)->find(name);
        if (!f) return std::nullopt;
        return f->value;
      },
      [](const void* ctx, std::string_view name) { return find_cookie(*static_cast<const request_fields*>(ctx), name); }};
  const auto route_index = lsnap.routes.match(rq.host(), rq.path, headers);
  if (!route_index) co_return answer_local(s, st, 404, "no_route");
  ex.route_index = route_index;
  const auto& route = listener.routes[*route_index];
  if (!route.allow_from.empty() && !lb::listener::in_blocks(route.allow_from, s.client_key()))
    co_return answer_local(s, st, 403, "source_not_allowed");
  // Held until the stream's exchange ends: each stream is a request in flight (nginx's limit_conn too).
  lb::listener::route_slot route_slot;
  if (const auto& rl = route.client_limits) {
    const auto v = lb::listener::admit_route_request(s.worker().id(), *rl, *lsnap.route_stats[*route_index],
                                                     s.client_key(), ex.start, route_slot);
    if (v.refused) co_return answer_local(s, st, 429, v.reason, v.retry_after);
  }
  if (const auto& rd = route.redirect_https) co_return redirect(s, st, *rd);
  const auto& pool = ws.snap->pools[route.pool_index];
  auto& wpool = ws.pools[route.pool_index];
  ex.pool_index = route.pool_index;
  // The body: none, whole already (replayable, sent with its length), or
  // still arriving (streamed, with the client's content-length or chunked).
  const bool has_body = !st.body_ended || !st.body_in.empty();
  const bool body_whole = st.body_ended;
  // The declared length of a body still arriving (nghttp2 holds the DATA
  // frames to it); a whole body is counted already (body_received).
  std::optional<std::uint64_t> declared;
  if (has_body && !body_whole) {
    if (const auto* cl = rq.find("content-length")) {
      std::uint64_t n = 0;
      std::from_chars(cl->value.data(), cl->value.data() + cl->value.size(), n);
      declared = n;
    }
  }
  // Over the body limit already, or by the declared length: 413 before an
  // upstream is chosen (HTTP/1.1 answers the same).
  st.body_limit = http::body_limit(listener.limits, route);
  if (st.body_limit != 0 && (st.body_received > st.body_limit || declared.value_or(0) > st.body_limit))
    st.body_too_large = true;
  if (st.body_too_large) co_return answer_local(s, st, 413, "body_too_large");

  std::uint64_t length = 0;
  body_framing f = body_framing::none;
  if (has_body && body_whole) {
    f = body_framing::length;
    length = st.body_in.size();
  } else if (has_body) {
    f = declared ? body_framing::length : body_framing::chunked;
    length = declared.value_or(0);
  }
  std::string head;
  head.reserve(st.block.size() + (trace_fields ? 384 : 256));
  // A route's rewrite changes the path sent upstream, not the one routed or logged.
  static thread_local std::string rewritten;
  const bool rewrites = route.rewrite && lsnap.routes.rewrite(*route_index, rq.path, rewritten);
  write_upstream_head(head, rq, f, length, s.client_ip(), lsnap.scheme, route, trace_fields ? &ex.ids : nullptr,
                      make_client_cert_fields(listener.tls, s.client_identity()),
                      rewrites ? rewritten : std::string_view());
  const std::uint64_t hash =
      config::is_hash_balancer(pool.cfg->balancer) ? request_hash(pool.cfg->hash_key, s.client_ip(), rq) : 0;
  std::size_t sticky = upstream::no_endpoint;
  if (const auto& affinity = pool.cfg->affinity)
    if (const auto v = find_cookie(rq, affinity->name)) sticky = upstream::affinity_endpoint(pool, *v);
  std::optional<upload> streamed;
  // The upload coroutine uses this frame (`streamed`): an exception (out of
  // memory) must not unwind it under the upload.
  std::exception_ptr out_of_memory;
  try {
    if (has_body && !body_whole) streamed.emplace(s, st, head, f == body_framing::chunked, route.write_timeout());

    runtime::borrowed_block fields_block(s.worker().arenas());
    arena fields_arena(fields_block.get(), fields_block.size());
    const http::fields_allocator alloc(fields_arena);
    const http::request_view view{head,
                                  body_whole ? asio::const_buffer(st.body_in.data(), st.body_in.size())
                                             : asio::const_buffer(),
                                  streamed ? &*streamed : nullptr,
                                  !has_body || body_whole,
                                  rq.method == "GET" || rq.method == "HEAD" || rq.method == "PUT" ||
                                      rq.method == "DELETE" || rq.method == "OPTIONS" || rq.method == "TRACE",
                                  rq.method == "HEAD",
                                  sticky};
    std::optional<http::response_parser> res;
    http::forward_context fctx{s.worker(), s, ex};
    auto fwd = co_await http::forward(fctx, pool, wpool, route, hash, view, res, alloc);
    if (body_whole && has_body) {
      ex.bytes_in += st.body_in.size();
      nghttp2_session_consume(s.codec(), st.id, st.body_in.size());
      st.body_in.clear();
      s.want_write();
    }
    if (fwd.what == http::forward_result::kind::abandoned) co_return;
    if (fwd.what == http::forward_result::kind::local)
      co_return answer_local(s, st, static_cast<unsigned>(fwd.status), fwd.reason);
    auto& up = fwd.up;
    auto& msg = res->get();
    ex.status = msg.result_int();

    // Response head: lower-case names (copied once into `names`), no
    // connection-specific fields.
    std::size_t field_count = 0, name_bytes = 0;
    for (const auto& v : msg) ++field_count, name_bytes += v.name_string().size();
    // Per worker thread and reused: nghttp2_submit_response copies the
    // fields before anything else can run on this thread.
    static thread_local std::string names;
    static thread_local std::vector<nghttp2_nv> nva;
    names.clear();
    names.reserve(name_bytes);  // before any append: append_lower's views must not move
    nva.clear();
    nva.reserve(field_count + 3);
    char code[4];
    std::to_chars(code, code + 3, msg.result_int());
    nva.push_back(nv(":status", {code, 3}));
    const auto& request_id = ex.ids.request_id;  // replaces the upstream's
    if (!request_id.empty()) nva.push_back(nv("x-request-id", request_id));
    // Affinity: a response from another endpoint than the cookie named
    // names the one that answered (HTTP/1.1's rule).
    if (pool.cfg->affinity && fwd.endpoint != sticky) {
      static thread_local std::string set_cookie;  // reused: no allocation per response
      upstream::affinity_cookie_value(set_cookie, pool, fwd.endpoint);
      nva.push_back(nv("set-cookie", set_cookie));
    }
    for (const auto& v : msg) {
      const auto name = v.name_string();
      if (connection_specific(v.name(), name)) continue;
      if (!request_id.empty() && name.size() == 12 && beast::iequals(name, "x-request-id")) continue;
      nva.push_back(nv(append_lower(names, name), v.value()));
    }
    const bool no_body = res->is_done();
    nghttp2_data_provider dp;
    dp.source.ptr = &st;
    dp.read_callback = &read_body;
    if (st.closed || s.closed()) {
      http::drop_upstream(ex, up);
      if (streamed) co_await streamed->finish(true);
      co_return;
    }
    nghttp2_submit_response(s.codec(), st.id, nva.data(), nva.size(), no_body ? nullptr : &dp);
    s.want_write();

    bool ok = true;
    if (!no_body) {
      // Body: one block at a time, the next read only once the client's
      // window has taken the last (relay_parsed's pattern, with the session
      // as the writer).
      runtime::borrowed_block chunk(s.worker().frames());
      constexpr std::size_t cap = runtime::frame_pool::block_size;  // one DATA frame: the next read waits for the client
      auto& body = msg.body();
      for (;;) {
        std::size_t produced = 0;
        body.data = chunk.get();
        body.size = cap;
        for (;;) {
          if (up->buf.size() != 0) {
            io::error_code ec;
            const auto used = res->put(up->buf.data(), ec);
            up->buf.consume(used);
            if (ec == bhttp::error::need_buffer) break;
            if (ec && ec != bhttp::error::need_more) {
              ok = false;
              break;
            }
            if (res->is_done() || body.size != cap) break;
            if (used != 0 && up->buf.size() != 0) continue;
          }
          s.arm(ex.deadline, route.timeout);
          auto ec = co_await up->stream->read(up->buf, cap, true);
          if (ec == asio::error::eof) {
            res->put_eof(ec);
            if (ec) ok = false;
            break;
          }
          if (ec) {
            ok = false;
            break;
          }
        }
        if (!ok || st.closed || s.closed()) break;
        produced = cap - body.size;
        const bool last = res->is_done();
        // Upstream trailers (fields Beast added after the head) go as a HEADERS frame.
        std::size_t now_fields = 0;
        if (last)
          for (auto it = msg.begin(); it != msg.end(); ++it) ++now_fields;
        st.out_data = chunk.get();
        st.out_len = produced;
        st.out_off = 0;
        st.out_last = last;
        st.out_trailers = last && now_fields > field_count;
        ex.bytes_out += produced;
        nghttp2_session_resume_data(s.codec(), st.id);
        s.want_write();
        // A client whose window stays shut past stall_timeout is a slow reader.
        s.arm(ex.deadline, listener.http2.stall_timeout);
        while (!st.closed && !s.closed() && (st.out_off < st.out_len || (last && !st.eof_sent)) && !ex.deadline.fired)
          co_await st.wait();
        if (ex.deadline.fired) {
          s.calm_down(abuse::slow_read);
          ok = false;
          break;
        }
        if (!(last && st.eof_sent) && (st.closed || s.closed())) {
          ok = false;
          break;
        }
        if (last) {
          if (st.out_trailers) {
            std::vector<nghttp2_nv> tva;
            std::string tnames;
            std::size_t i = 0, trailer_bytes = 0;
            for (const auto& v : msg)
              if (i++ >= field_count) trailer_bytes += v.name_string().size();
            tnames.reserve(trailer_bytes);  // append_lower's views must not move
            i = 0;
            for (const auto& v : msg) {
              if (i++ < field_count) continue;
              const auto name = v.name_string();
              tva.push_back(nv(append_lower(tnames, name), v.value()));
            }
            nghttp2_submit_trailer(s.codec(), st.id, tva.data(), tva.size());
            s.want_write();
          }
          break;
        }
      }
      st.out_len = st.out_off = 0;
      runtime::session_base::disarm(ex.deadline);
      if (!ok && !st.closed && !s.closed()) {
        // Mid-body failure: the client learns it from a reset, not a status.
        nghttp2_submit_rst_stream(s.codec(), NGHTTP2_FLAG_NONE, st.id, NGHTTP2_INTERNAL_ERROR);
        s.want_write();
      }
    }
    if (streamed && streamed->running()) {
      co_await streamed->finish(!ok || !streamed->done());
      if (streamed->result() != http::relay_result::ok) ok = false;
    }
    fwd.in_flight.reset();
    if (ok && res->keep_alive() && !res->need_eof() && up->buf.size() == 0 && &ws == s.worker().current().get() &&
        !(streamed && !streamed->done())) {
      ex.upstream = nullptr;
      wpool.idle.release(std::move(up));
    } else {
      http::drop_upstream(ex, up);
    }
    co_return;
  } catch (const std::bad_alloc&) {
    out_of_memory = std::current_exception();
  }
  if (streamed && streamed->running()) co_await streamed->finish(true);
  std::rethrow_exception(out_of_memory);
}

}  // namespace

}  // namespace lb::proto::h2
