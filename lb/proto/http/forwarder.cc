#include "lb/proto/http/forwarder.h"

#include <algorithm>

#include "lb/connpool/connector.h"
#include "lb/proto/http/request_policy.h"
#include "lb/runtime/worker.h"
#include "lb/upstream/affinity.h"
#include "lb/upstream/selection.h"

namespace lb::proto::http {

namespace asio = boost::asio;
using asio::awaitable;
using clock = std::chrono::steady_clock;

namespace {

// Upstream heads are not the client's to size; this bounds a broken upstream.
constexpr std::size_t max_upstream_head = 64 * 1024;
// Upstream connections are few and reused: read their responses in bigger bites.
constexpr std::size_t upstream_read_chunk = 16 * 1024;
// Reused upstream connections that die before answering are retried on fresh
// ones; more than this in one request means the endpoint itself is failing.
constexpr int max_stale_retries = 2;
// Streams an HTTP/2 endpoint refused unprocessed (GOAWAY, REFUSED_STREAM) are
// sent again on a new connection: they cost the endpoint nothing, but an
// endpoint that refuses everything must not keep a request forever.
constexpr int max_refused_retries = 5;

forward_result local(local_status s, std::string_view reason, bool body_failed = false) {
  forward_result r;
  r.what = forward_result::kind::local;
  r.status = s;
  r.reason = reason;
  r.body_failed = body_failed;
  return r;
}

}  // namespace

void drop_upstream(exchange& ex, connpool::upstream_ptr& up) {
  if (!up) return;
  up->stream->close();
  up.reset();
  ex.upstream = nullptr;
}

awaitable<forward_result> forward(forward_context& ctx, const upstream::pool_snapshot& pool,
                                  upstream::worker_pool& wpool, const config::route& route, std::uint64_t hash,
                                  const request_view& rq, std::optional<response_parser>& res,
                                  const fields_allocator& alloc) {
  auto& ex = ctx.ex;
  const unsigned worker_id = ctx.worker.id();
  const auto& policy = route.retries;
  const bool retry_safe = rq.replayable && rq.idempotent;
  wpool.retry_tokens = std::min(100.0, wpool.retry_tokens + policy.budget_percent / 100.0);
  auto& pool_stats = pool.stats->stats[worker_id];

  upstream::tried_set tried(pool.addrs.size());
  connpool::upstream_ptr up;
  in_flight_guard in_flight;
  std::uint32_t retries = 0;
  int stale_retries = 0;
  int refused_retries = 0;
  std::optional<std::size_t> reconnect_to;
  std::size_t ep = 0;

  // The answer to an upload that failed (not by the upstream's own error):
  // the rest of the body is unread, so the client's connection ends.
  auto upload_failed = [&](relay_result r) {
    switch (r) {
      case relay_result::in_malformed: return local(local_status::bad_request, "malformed_body", true);
      case relay_result::in_too_large: return local(local_status::payload_too_large, "body_too_large", true);
      case relay_result::timed_out: return local(local_status::request_timeout, "body_timeout", true);
      case relay_result::out_timed_out:  // the upstream took no part of the body within send_timeout
        upstream::record(pool, ep, true, clock::now());
        return local(local_status::gateway_timeout, "upstream_send_timeout", true);
      default: {
        forward_result gone;  // the client went away mid-body
        gone.what = forward_result::kind::abandoned;
        return gone;
      }
    }
  };

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
    // One clock read serves the pick, the send time and the write's deadline
    // of an attempt on a reused connection (they are microseconds apart).
    auto now = clock::now();
    if (reconnect_to) {
      ep = *reconnect_to;
      reconnect_to.reset();
    } else {
      if (rq.sticky != upstream::no_endpoint && upstream::available(pool, wpool, tried, rq.sticky, now)) {
        // The endpoint the affinity cookie names, while it can take
        // requests; once it failed this request (tried), the balancer picks.
        ep = rq.sticky;
      } else {
        const auto picked = upstream::pick(pool, wpool, tried, hash, now);
        switch (picked.result) {
          case upstream::pick_result::outcome::picked: break;
          case upstream::pick_result::outcome::all_tried:
            co_return local(local_status::bad_gateway, "upstream_failed");
          case upstream::pick_result::outcome::none_healthy:
            if (tried.any()) co_return local(local_status::bad_gateway, "upstream_failed");
            co_return local(local_status::service_unavailable, "no_healthy_endpoint");
          case upstream::pick_result::outcome::all_full:
            co_return local(local_status::service_unavailable, "endpoints_full");
        }
        ep = picked.index;
      }
      up = pool.cfg->protocol == config::upstream_protocol::h1 ? wpool.idle.acquire(ep)
                                                              : wpool.h2.acquire(ep, pool.live[ep]);
      reused = up != nullptr;
    }
    ex.endpoint_label = pool.labels[ep];
    ++ex.attempts;
    if (!up) {
      ctx.owner.arm(ex.deadline, pool.cfg->connect_timeout);
      std::string_view failure;
      up = co_await connpool::connect(ctx.worker.io(), worker_id, pool, wpool, ep, ex.upstream, ex.deadline, failure);
      if (!up) {
        // Nothing reached the upstream: always safe to try another endpoint.
        upstream::record(pool, ep, true, clock::now());
        tried.set(ep);
        if (policy.on_connect_failure && may_retry(false)) continue;
        co_return local(local_status::bad_gateway, failure);
      }
      now = clock::now();
    }
    ex.upstream = up->stream.get();
    in_flight.set(pool.live[ep].get());
    const auto sent_at = now;

    // Request head (and body).
    bool sent = true;
    if (rq.streamed) {
      co_await rq.streamed->start(up);
    } else {
      io::buffer_seq bufs;
      bufs.push(asio::buffer(rq.head));
      if (rq.body.size() != 0) bufs.push(rq.body);
      ctx.owner.arm_at(ex.deadline, now + route.write_timeout());
      io::error_code wec;
      if (!up->stream->write_now(bufs, wec)) wec = co_await up->stream->write(bufs);
      sent = !wec;
    }
    if (!sent) {
      const bool refused = up->stream->unprocessed();
      drop_upstream(ex, up);
      in_flight.reset();
      // The idle connection died under us, or the endpoint refused the
      // stream unprocessed: not the request's fault.
      if (rq.replayable && ((refused && refused_retries++ < max_refused_retries) ||
                            (!refused && reused && stale_retries++ < max_stale_retries))) {
        reconnect_to = ep;
        continue;
      }
      upstream::record(pool, ep, true, clock::now());
      if (ex.deadline.fired) co_return local(local_status::gateway_timeout, "upstream_send_timeout");
      co_return local(local_status::bad_gateway, "upstream_write_failed");
    }

    // Response head, while any upload goes on; interim 1xx (but 101) skipped.
    head_result hr;
    std::size_t head_len = 0;
    for (;;) {
      res.emplace(std::piecewise_construct, std::make_tuple(), std::make_tuple(alloc));
      res->header_limit(static_cast<std::uint32_t>(max_upstream_head + 1));
      res->body_limit(unlimited_body);
      if (rq.head_method) res->skip(true);
      ctx.owner.arm(ex.deadline, route.timeout);
      hr = co_await read_head(*up->stream, up->buf, max_upstream_head, upstream_read_chunk, false, false, head_len,
                              ex.deadline);
      if (hr != head_result::complete) break;
      io::error_code ec;
      const auto used = res->put(asio::buffer(up->buf.data().data(), head_len), ec);
      up->buf.consume(used);
      if (ec || !res->is_header_done() || !response_acceptable(res->get(), res->chunked())) {
        hr = head_result::malformed;
        break;
      }
      res->eager(true);
      const auto status = res->get().result_int();
      if (status >= 200 || status == 101) break;
    }

    // The upload failed on the client's side: that decides the answer.
    if (rq.streamed && rq.streamed->done() && rq.streamed->result() != relay_result::ok &&
        rq.streamed->result() != relay_result::out_error) {
      drop_upstream(ex, up);
      co_return upload_failed(rq.streamed->result());
    }

    if (hr != head_result::complete) {
      const bool nothing_received = hr == head_result::closed;
      const bool timed_out = hr == head_result::timed_out;
      const bool refused = nothing_received && up->stream->unprocessed();
      if (rq.streamed) {
        co_await rq.streamed->finish(true);
        // One timeout cancels the upload and this read alike: the upload's
        // own result says which side was slow.
        const auto upload = rq.streamed->result();
        if (upload == relay_result::out_timed_out || upload == relay_result::timed_out) {
          drop_upstream(ex, up);
          in_flight.reset();
          co_return upload_failed(upload);
        }
      }
      drop_upstream(ex, up);
      in_flight.reset();
      pool.live[ep]->stats[worker_id].responses.add(0);
      // A stale connection, or a stream the endpoint refused unprocessed
      // (HTTP/2 GOAWAY or REFUSED_STREAM): not the request's fault.
      // A body still streaming starts over only when its source kept all it sent.
      const bool replayable = rq.replayable || (refused && rq.streamed && rq.streamed->rewind());
      bool again = false;
      if (nothing_received && replayable) {
        if (refused) again = refused_retries++ < max_refused_retries;
        else if (reused) again = stale_retries++ < max_stale_retries;
      }
      if (again) {
        reconnect_to = ep;
        continue;
      }
      upstream::record(pool, ep, true, clock::now());
      tried.set(ep);
      if (nothing_received && !reused && policy.on_refused_stream && retry_safe && may_retry(true)) continue;
      if (timed_out) co_return local(local_status::gateway_timeout, "upstream_timeout");
      co_return local(local_status::bad_gateway, hr == head_result::malformed ? "upstream_malformed" : "upstream_reset");
    }

    const auto status = res->get().result_int();
    const auto answered_at = clock::now();
    ex.upstream_duration = std::chrono::duration<double>(answered_at - sent_at).count();
    pool_stats.response_duration.observe(ex.upstream_duration);
    pool.live[ep]->stats[worker_id].responses.add(status);
    upstream::record(pool, ep, status >= 500, answered_at);
    if (std::find(policy.on_status.begin(), policy.on_status.end(), status) != policy.on_status.end() &&
        retry_safe && !(rq.streamed && rq.streamed->running())) {
      tried.set(ep);
      if (may_retry(true)) {
        drop_upstream(ex, up);
        in_flight.reset();
        continue;
      }
    }
    forward_result r;
    r.up = std::move(up);
    r.head_len = head_len;
    r.endpoint = ep;
    r.in_flight = std::move(in_flight);
    co_return r;
  }
}

}  // namespace lb::proto::http
