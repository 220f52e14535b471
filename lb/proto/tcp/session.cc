#include "lb/proto/tcp/session.h"

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <new>
#include <optional>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "lb/accesslog/access_log.h"
#include "lb/balancer/balancer.h"
#include "lb/connpool/connector.h"
#include "lb/core/ip_text.h"
#include "lb/core/log.h"
#include "lb/proto/proxy/header.h"
#include "lb/proto/tcp/client_hello.h"
#include "lb/proto/tcp/pump.h"
#include "lb/proto/tcp/upstream_header.h"
#include "lb/runtime/memory.h"
#include "lb/runtime/worker.h"
#include "lb/upstream/selection.h"

namespace lb::proto::tcp {

namespace asio = boost::asio;
using asio::awaitable;
using clock = std::chrono::steady_clock;
using upstream::tcp_end;

namespace {

class session final : public runtime::session_base, public std::enable_shared_from_this<session> {
 public:
  session(runtime::worker& w, listener::accepted_connection&& c)
      : session_base(std::move(c.ticket)),
        w_(w),
        ws_(w.current()),
        listener_index_(c.listener_index),
        client_(std::move(c.stream)),
        peer_(c.peer, c.peer_port),
        proxied_(std::move(c.proxied)),
        client_ip_(ip_text(c.peer)) {
    w_.link(this);
  }
  ~session() override { w_.unlink(this); }

  void start() {
    asio::co_spawn(w_.io(), run(), [self = shared_from_this()](std::exception_ptr e) {
      if (!e) return;
      if (runtime::memory::is_bad_alloc(e)) {
        // Only before run() set its counts up (its frame), or in finish().
        runtime::memory::note_failure(runtime::memory::plane::tcp);
        self->close_both();
        return;
      }
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        log::error("tcp session failed", {{"error", x.what()}});
      }
      self->close_both();
    });
  }

  void on_timeout() override {
    if (!expire(connect_, idle_, half_, drain_, peek_)) return;
    if (drain_.fired) ended_ = tcp_end::drained;
    if (peeking_) {  // peek_timeout: the read sees the cancel
      client_->cancel();
      return;
    }
    if (connecting_) {  // connect_timeout (or drain): the connector sees the cancel
      connecting_->cancel();
      return;
    }
    if (!ended_) ended_ = drain_.fired ? tcp_end::drained : half_.fired ? tcp_end::half_close_timeout : tcp_end::idle_timeout;
    close_both();
  }

  void on_drain() override {
    // A flow has no request boundary to stop at: it runs on until it ends or
    // drain_timeout passes (that of the config now current).
    if (draining_) return;
    draining_ = true;
    // Nothing has moved yet: nothing to finish, unless an upgrade's new
    // process serves on (then the client's connection is kept).
    if (peeking_ && !w_.handing_over()) {
      ended_ = tcp_end::drained;
      client_->cancel();
      return;
    }
    arm(drain_, w_.current()->snap->cfg->drain_timeout);
  }

  void on_force_close() override {
    if (!ended_) ended_ = tcp_end::drained;
    if (connecting_) connecting_->cancel();
    close_both();
  }

 private:
  const runtime::listener_snapshot& lsnap() const { return ws_->snap->listeners[listener_index_]; }

  void close_both() {
    clear_deadline();
    client_->close();
    if (up_) up_->stream->close();
  }

  awaitable<void> run() {
    const auto& ls = lsnap();
    const auto& cfg = *ls.cfg;
    auto& lstats = ls.live->stats[w_.id()];
    lstats.tcp_active.add(1);
    start_ = clock::now();
    if (w_.access_log()) start_wall_ = std::chrono::system_clock::now();
    if (!cfg.pool.empty()) pool_index_ = cfg.pool_index;
    // Out of memory, the flow ends like any other (closed and accounted);
    // what it held was released as the failing coroutines unwound.
    try {
      if (cfg.peek_sni) pool_index_ = co_await peek(ls);
      if (pool_index_) co_await proxy(ls, ws_->snap->pools[*pool_index_], lstats);
    } catch (const std::bad_alloc&) {
      runtime::memory::note_failure(runtime::memory::plane::tcp);
      if (!ended_) ended_ = tcp_end::closed;
    }
    close_both();
    finish(ls, pool_index_ ? &ws_->snap->pools[*pool_index_] : nullptr, lstats);
  }

  awaitable<void> proxy(const runtime::listener_snapshot& ls, const upstream::pool_snapshot& pool,
                        upstream::listener_worker_stats& lstats) {
    const auto& cfg = *ls.cfg;
    // The PROXY header goes ahead of everything, a TLS handshake included,
    // so the connector writes it.
    if (pool.cfg->proxy_protocol != config::proxy_version::none)
      header_ = upstream_header(pool.cfg->proxy_protocol, *client_, peer_, proxied_.get(), hello_.sni);
    if (co_await connect(pool)) {
      auto& ep_stats = pool.live[up_->endpoint]->stats[w_.id()];
      // A flow is load for least_conn/least_request for as long as it lasts,
      // however it ends (an exception included).
      struct load {
        std::atomic<std::uint32_t>& n;
        explicit load(std::atomic<std::uint32_t>& c) : n(c) { n.fetch_add(1, std::memory_order_relaxed); }
        ~load() { n.fetch_sub(1, std::memory_order_relaxed); }
      } in_flight(pool.live[up_->endpoint]->in_flight);
      io::set_no_delay(*client_);
      pump_options opts;
      opts.half_close = &half_;
      opts.half_close_timeout = cfg.limits.half_close_timeout;
      opts.splice = cfg.splice;
      opts.refuse_proxy_header = cfg.accept_proxy && !proxied_;
      opts.counters = {{{&lstats.tcp_bytes[0], &ep_stats.tcp_bytes[1]}, {&ep_stats.tcp_bytes[0], &lstats.tcp_bytes[1]}}};
      boost::beast::flat_buffer none;
      // first_ holds the ClientHello bytes already read: the upstream gets them first.
      report_ = co_await pump_flow(w_, {*client_, first_}, {*up_->stream, none}, {*this, idle_, cfg.limits.idle_timeout},
                                   opts, shared_from_this());
      if (!ended_) {
        ended_ = report_.refused    ? tcp_end::proxy_refused
                 : report_.reset[0] ? tcp_end::client_reset
                 : report_.reset[1] ? tcp_end::upstream_reset
                                    : tcp_end::closed;
      }
    }
  }

  // Reads the ClientHello (kept in first_, for the upstream) within
  // peek_timeout and returns the pool its route names; sets ended_ and
  // returns nullopt when the flow goes nowhere.
  awaitable<std::optional<std::size_t>> peek(const runtime::listener_snapshot& ls) {
    const auto& cfg = *ls.cfg;
    const auto fallback = pool_index_;
    peeking_ = true;
    arm(peek_, cfg.peek_timeout);
    auto status = hello_status::incomplete;
    while (status == hello_status::incomplete && !ended_) {
      // Hellos are mostly under 2 KiB: grow only for the rare large one.
      const auto room = std::min<std::size_t>(first_.size() < 2048 ? 2048 : 8192, max_client_hello_wire - first_.size());
      std::size_t n = 0;
      const auto ec = co_await client_->read_some(first_.prepare(room), n);
      first_.commit(n);
      if (n != 0) {
        const auto* data = static_cast<const char*>(first_.data().data());
        status = parse_client_hello(std::string_view(data, first_.size()), hello_);
        // A PROXY header from a peer not trusted to send one is refused, as
        // on a listener that reads no SNI.
        if (status == hello_status::not_tls && cfg.accept_proxy && !proxied_ &&
            proxy::starts_like_header(std::string_view(data, first_.size())) != proxy::signature::no) {
          ended_ = tcp_end::proxy_refused;
        }
      }
      if (ec) break;
    }
    disarm(peek_);
    peeking_ = false;
    if (ended_) co_return std::nullopt;
    switch (status) {
      case hello_status::complete:
        if (const auto r = ls.sni.match(hello_)) {
          route_ = cfg.tcp_routes[*r].name;
          co_return cfg.tcp_routes[*r].pool_index;
        }
        if (!fallback) ended_ = tcp_end::no_route;
        co_return fallback;
      case hello_status::not_tls:
        if (cfg.non_tls == config::non_tls_action::pool && fallback) co_return fallback;
        ended_ = tcp_end::not_tls;
        co_return std::nullopt;
      case hello_status::incomplete:
        ended_ = peek_.fired ? tcp_end::peek_timeout : tcp_end::bad_client_hello;
        co_return std::nullopt;
      case hello_status::malformed:
      case hello_status::too_large: break;
    }
    ended_ = tcp_end::bad_client_hello;
    co_return std::nullopt;
  }

  // Picks and connects, trying each endpoint at most once; sets ended_ and
  // returns false when none could be reached.
  awaitable<bool> connect(const upstream::pool_snapshot& pool) {
    auto& wpool = ws_->pools[*pool_index_];
    // Hashing by `sni` falls back to the client address when none was read.
    const bool by_sni = pool.cfg->hash_key.type == config::hash_key::kind::sni && !hello_.sni.empty();
    const std::uint64_t hash = !config::is_hash_balancer(pool.cfg->balancer) ? 0
                               : by_sni ? balancer::hash_key(hello_.sni)
                                        : balancer::hash_key(client_ip_);
    upstream::tried_set tried(pool.addrs.size());
    for (;;) {
      const auto picked = upstream::pick(pool, wpool, tried, hash, clock::now());
      if (picked.result != upstream::pick_result::outcome::picked) {
        ended_ = tried.any() ? tcp_end::connect_failed : tcp_end::no_endpoint;
        co_return false;
      }
      const auto ep = picked.index;
      endpoint_label_ = pool.labels[ep];
      if (++attempts_ > 1) pool.stats->stats[w_.id()].retries.add();
      arm(connect_, pool.cfg->connect_timeout);
      up_ = co_await connpool::connect(w_.io(), w_.id(), pool, wpool, ep, connecting_, connect_, failure_, header_);
      disarm(connect_);
      upstream::record(pool, ep, !up_, clock::now());
      if (up_) co_return true;
      tried.set(ep);
      if (draining_ || ended_) {
        if (!ended_) ended_ = tcp_end::connect_failed;
        co_return false;
      }
    }
  }

  void finish(const runtime::listener_snapshot& ls, const upstream::pool_snapshot* pool,
              upstream::listener_worker_stats& lstats) {
    const auto why = ended_.value_or(tcp_end::closed);
    lstats.tcp_ended[static_cast<std::size_t>(why)].add();
    lstats.tcp_active.add(-1);
    auto* log = w_.access_log();
    if (!log) return;
    accesslog::record r;
    r.start_unix_us = std::chrono::duration_cast<std::chrono::microseconds>(start_wall_.time_since_epoch()).count();
    r.listener = ls.cfg->name;
    if (pool) r.pool = pool->cfg->name;
    r.route = route_;
    r.sni = hello_.sni;
    r.endpoint = endpoint_label_;
    r.client = client_ip_;
    r.bytes_in = report_.bytes[0];
    r.bytes_out = report_.bytes[1];
    r.duration = std::chrono::duration<double>(clock::now() - start_).count();
    r.reason = upstream::tcp_end_names[static_cast<std::size_t>(why)];
    // A refused upstream certificate says why in the log (the metric keeps connect_failed).
    if (why == tcp_end::connect_failed && failure_.rfind("upstream_tls", 0) == 0) r.reason = failure_;
    r.attempts = attempts_;
    log->append(r);
  }

  runtime::worker& w_;
  // The config the session started with, kept to its end: a reload never
  // moves an established flow.
  std::shared_ptr<runtime::worker_snapshot> ws_;
  std::size_t listener_index_;
  std::unique_ptr<io::stream> client_;
  proxy::endpoint peer_;
  std::shared_ptr<const proxy::header> proxied_;
  std::string client_ip_;
  connpool::upstream_ptr up_;
  io::stream* connecting_ = nullptr;
  std::string_view endpoint_label_;
  std::string header_;  // the PROXY header sent upstream
  std::string_view failure_;  // why the last connect attempt failed (static text)
  std::optional<std::size_t> pool_index_;  // into the snapshot's pools; none: the flow goes nowhere
  // SNI listeners: the ClientHello read, and its bytes, which the upstream
  // gets first.
  client_hello hello_;
  boost::beast::flat_buffer first_;
  std::string_view route_;
  bool peeking_ = false;
  std::uint32_t attempts_ = 0;
  pump_report report_;
  std::optional<tcp_end> ended_;  // set by whoever ends the flow first
  bool draining_ = false;
  clock::time_point start_{};
  std::chrono::system_clock::time_point start_wall_{};
  io::deadline connect_, idle_, half_, drain_, peek_;
};

}  // namespace

void start_session(runtime::worker& w, listener::accepted_connection&& c) {
  auto s = std::make_shared<session>(w, std::move(c));
  s->start();
  // Out of a stage the drain let finish (an upgrade's handover): drain_timeout bounds it.
  if (w.draining()) s->on_drain();
}

}  // namespace lb::proto::tcp
