#include "lb/health/checker.h"

#include <chrono>
#include <exception>
#include <string>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>

#include "lb/core/log.h"
#include "lb/health/h2_probe.h"
#include "lb/health/threshold.h"
#include "lb/io/tls_stream.h"
#include "lb/tls/client_context.h"

namespace lb::health {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using asio::redirect_error;
using asio::use_awaitable;
using steady = std::chrono::steady_clock;

namespace {

constexpr std::size_t max_head_bytes = 16 * 1024;

using detail::check_io;
using detail::outcome;

}  // namespace

namespace detail {

struct probe {
  probe(asio::io_context& io, std::shared_ptr<upstream::endpoint_live> l, std::string lbl,
        const tcp::endpoint& a, const config::health_check& c, std::uint64_t seed)
      : live(std::move(l)),
        label(std::move(lbl)),
        addr(a),
        hc(c),
        state(c.healthy_threshold, c.unhealthy_threshold, true),
        wait(io),
        rng(seed) {}

  const std::shared_ptr<upstream::endpoint_live> live;  // also gives the pool name
  const std::string label;                              // "host:port" as configured
  // Replaced by update(); a check copies them when it starts.
  tcp::endpoint addr;
  config::health_check hc;
  // A TLS pool: checks speak TLS as requests do (no resumption: one check
  // an interval costs little and tests the full handshake).
  std::shared_ptr<const tls::client_context> tls;
  std::string host;  // the endpoint's configured host: SNI and verified name
  bool h2 = false;   // the pool speaks HTTP/2: checks do too

  threshold_state state;
  asio::steady_timer wait;         // until the next check
  std::weak_ptr<check_io> current;  // the check in flight, if any
  std::mt19937_64 rng;
  bool stopped = false;

  // Next check after one that started at `started`: interval +-10%.
  steady::time_point next_after(steady::time_point started) {
    const double f = std::uniform_real_distribution<double>(0.9, 1.1)(rng);
    return started + std::chrono::duration_cast<steady::duration>(hc.interval * f);
  }
  // The first check: within the first tenth of an interval.
  steady::duration first_delay() {
    const double f = std::uniform_real_distribution<double>(0.0, 0.1)(rng);
    return std::chrono::duration_cast<steady::duration>(hc.interval * f);
  }

  void stop() {
    stopped = true;
    wait.cancel();
    if (auto io = current.lock()) {
      io->deadline.cancel();
      io->close();
    }
  }
};

}  // namespace detail

namespace {

using detail::probe;

std::string connect_reason(const error_code& ec) {
  if (ec == asio::error::connection_refused) return "connect refused";
  return "connect failed: " + ec.message();
}

// Over TLS: the handshake, then (http) the request and a response head read
// through the stream; the same outcomes as in the clear.
asio::awaitable<outcome> exchange_tls(check_io& io, const tls::client_context& ctx, const std::string& tls_host,
                                      const config::health_check& hc, const std::string& req) {
  ssl_st* ssl = ctx.new_ssl(tls_host, nullptr);
  if (!ssl) co_return outcome{false, "tls setup failed"};
  io.tls = std::make_unique<io::tls_stream>(std::make_unique<io::socket_stream>(std::move(io.sock)), ssl);
  if (co_await io.tls->handshake()) {
    const auto why = tls::classify_failure(ssl);
    io.close();
    co_return outcome{false, std::string(why.reason)};
  }
  if (hc.type == config::health_check::kind::tcp) {
    io.close();
    co_return outcome{true, "tls handshake done"};
  }
  if (co_await io.tls->write(asio::buffer(req))) co_return outcome{false, "send failed"};
  beast::flat_buffer buf(max_head_bytes);
  bhttp::response_parser<bhttp::empty_body> parser;
  parser.header_limit(max_head_bytes);
  parser.skip(true);
  error_code ec;
  while (!parser.is_header_done()) {
    if (buf.size() >= max_head_bytes) co_return outcome{false, "response head too large"};
    if (const auto rec = co_await io.tls->read(buf, max_head_bytes - buf.size(), false)) {
      io.close();
      co_return outcome{false, rec == asio::error::eof ? "closed before response" : "read failed: " + rec.message()};
    }
    buf.consume(parser.put(buf.data(), ec));
    if (ec == bhttp::error::need_more) ec = {};
    if (ec) {
      io.close();
      co_return outcome{false, "invalid response: " + ec.message()};
    }
  }
  io.close();
  const unsigned status = parser.get().result_int();
  const bool ok = status >= hc.expect_status_min && status <= hc.expect_status_max;
  co_return outcome{ok, "status " + std::to_string(status)};
}

// Connect and, for http, one request/response head. The caller bounds it in time.
asio::awaitable<outcome> exchange(check_io& io, tcp::endpoint addr, config::health_check hc, std::string host,
                                  std::shared_ptr<const tls::client_context> tls, std::string tls_host, bool h2) {
  error_code ec;
  co_await io.sock.async_connect(addr, redirect_error(use_awaitable, ec));
  if (ec) co_return outcome{false, connect_reason(ec)};
  if (h2 && hc.type != config::health_check::kind::tcp)
    co_return co_await detail::exchange_h2(io, hc, host, tls.get(), tls_host);
  if (tls) {
    const std::string req = "GET " + hc.path + " HTTP/1.1\r\nHost: " + host +
                            "\r\nUser-Agent: lb-health-check\r\nConnection: close\r\n\r\n";
    co_return co_await exchange_tls(io, *tls, tls_host, hc, req);
  }
  if (hc.type == config::health_check::kind::tcp) {
    io.close();
    co_return outcome{true, "connected"};
  }

  const std::string req = "GET " + hc.path + " HTTP/1.1\r\nHost: " + host +
                          "\r\nUser-Agent: lb-health-check\r\nConnection: close\r\n\r\n";
  co_await asio::async_write(io.sock, asio::buffer(req), redirect_error(use_awaitable, ec));
  if (ec) co_return outcome{false, "send failed: " + ec.message()};

  beast::flat_buffer buf(max_head_bytes);
  bhttp::response_parser<bhttp::empty_body> parser;
  parser.header_limit(max_head_bytes);
  parser.skip(true);  // the head is all we want
  co_await bhttp::async_read_header(io.sock, buf, parser, redirect_error(use_awaitable, ec));
  io.close();
  if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow) {
    co_return outcome{false, "response head too large"};
  }
  if (ec == bhttp::error::end_of_stream || ec == asio::error::eof) {
    co_return outcome{false, "closed before response"};
  }
  if (ec && ec.category() == bhttp::make_error_code(bhttp::error::bad_version).category()) {
    co_return outcome{false, "invalid response: " + ec.message()};
  }
  if (ec) co_return outcome{false, "read failed: " + ec.message()};
  const unsigned status = parser.get().result_int();
  const bool ok = status >= hc.expect_status_min && status <= hc.expect_status_max;
  co_return outcome{ok, "status " + std::to_string(status)};
}

// One check of `p`, bounded by its timeout.
asio::awaitable<outcome> check_once(std::shared_ptr<probe> p) {
  const auto hc = p->hc;
  const auto addr = p->addr;
  auto io = std::make_shared<check_io>(co_await asio::this_coro::executor);
  p->current = io;
  io->deadline.expires_after(hc.timeout);
  io->deadline.async_wait([w = std::weak_ptr<check_io>(io)](const error_code& ec) {
    if (ec) return;
    if (auto io = w.lock()) {
      io->timed_out = true;
      io->close();
    }
  });
  // A hostname endpoint's label is "name:port@ip": the Host is "name:port".
  // Computed outside the co_await: GCC 12 mishandles temporaries of a
  // conditional expression inside a co_await operand.
  std::string host = hc.host.empty() ? p->label.substr(0, p->label.find('@')) : hc.host;
  auto r = co_await exchange(*io, addr, hc, std::move(host), p->tls, p->host, p->h2);
  io->deadline.cancel();
  if (!r.ok && io->timed_out) r.reason = "timeout";
  co_return r;
}

void store_healthy(upstream::endpoint_live& live, const std::string& label, bool healthy,
                   std::string_view reason) {
  if (healthy) live.ready_since.store(upstream::ticks(upstream::clock::now()), std::memory_order_relaxed);
  live.healthy.store(healthy, std::memory_order_relaxed);
  log::info("endpoint health changed", {{"pool", live.pool},
                                        {"endpoint", label},
                                        {"healthy", healthy ? "true" : "false"},
                                        {"reason", reason}});
}

void apply(probe& p, const outcome& r) {
  auto& last = p.live->last_check;
  last.done = true;
  last.ok = r.ok;
  last.reason = r.reason;
  last.at_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
  if (!r.ok) {
    log::debug("health check failed", {{"pool", p.live->pool}, {"endpoint", p.label}, {"reason", r.reason}});
  }
  if (p.state.observe(r.ok)) store_healthy(*p.live, p.label, p.state.healthy(), r.reason);
}

asio::awaitable<void> run(std::shared_ptr<probe> p) {
  p->wait.expires_after(p->first_delay());
  for (;;) {
    error_code ec;
    co_await p->wait.async_wait(redirect_error(use_awaitable, ec));
    if (p->stopped) co_return;
    // update() moved the next check earlier: wait for the new time.
    if (ec == asio::error::operation_aborted && p->wait.expiry() > steady::now()) continue;
    const auto started = steady::now();
    outcome r;
    try {
      r = co_await check_once(p);
    } catch (const std::exception& x) {
      r = outcome{false, std::string("check error: ") + x.what()};
    }
    if (p->stopped) co_return;  // abandoned: its result no longer belongs to anyone
    apply(*p, r);
    p->wait.expires_at(p->next_after(started));
  }
}

}  // namespace

checker::checker(asio::io_context& control, std::uint64_t seed) : io_(control), rng_(seed) {}

checker::~checker() { stop(); }

void checker::update(std::shared_ptr<const runtime::snapshot> snap) {
  if (stopped_) return;
  decltype(probes_) next;
  if (snap) {
    for (const auto& pool : snap->pools) {
      const config::health_check* hc =
          pool.cfg && pool.cfg->health_check ? &*pool.cfg->health_check : nullptr;
      for (std::size_t i = 0; i < pool.live.size() && i < pool.addrs.size(); ++i) {
        const auto& live = pool.live[i];
        if (!live || next.count(live.get())) continue;
        const auto& label = i < pool.labels.size() ? pool.labels[i] : live->address;
        if (!hc) {
          live->last_check = {};  // a removed check's last result no longer describes it
          // Nothing but a check marks an endpoint down, so nothing else would bring it back.
          if (!live->healthy.load(std::memory_order_relaxed)) store_healthy(*live, label, true, "no health check");
          continue;
        }
        auto it = probes_.find(live.get());
        if (it == probes_.end()) {
          auto p = std::make_shared<probe>(io_, live, label, pool.addrs[i], *hc, rng_());
          p->tls = pool.tls;
          p->host = i < pool.hosts.size() ? pool.hosts[i] : std::string();
          p->h2 = pool.cfg->protocol != config::upstream_protocol::h1;
          if (!live->healthy.load(std::memory_order_relaxed)) store_healthy(*live, label, true, "check started");
          asio::co_spawn(io_, run(p), [p](std::exception_ptr e) {
            if (!e) return;
            try {
              std::rethrow_exception(e);
            } catch (const std::exception& x) {
              log::error("health check stopped", {{"pool", p->live->pool}, {"endpoint", p->label}, {"error", x.what()}});
            } catch (...) {
              log::error("health check stopped", {{"pool", p->live->pool}, {"endpoint", p->label}});
            }
          });
          next.emplace(live.get(), std::move(p));
          continue;
        }
        auto p = std::move(it->second);
        probes_.erase(it);
        const auto old_interval = p->hc.interval;
        if (hc->healthy_threshold != p->state.healthy_threshold() ||
            hc->unhealthy_threshold != p->state.unhealthy_threshold()) {
          p->state = threshold_state(hc->healthy_threshold, hc->unhealthy_threshold, p->state.healthy());
        }
        p->addr = pool.addrs[i];
        p->hc = *hc;
        p->tls = pool.tls;
        p->host = i < pool.hosts.size() ? pool.hosts[i] : std::string();
        p->h2 = pool.cfg->protocol != config::upstream_protocol::h1;
        if (hc->interval < old_interval) {
          // Only while waiting: a check in flight reschedules itself with the new interval.
          const auto sooner = p->next_after(steady::now());
          if (!p->current.lock() && p->wait.expiry() > sooner) p->wait.expires_at(sooner);
        }
        next.emplace(live.get(), std::move(p));
      }
    }
  }
  for (auto& [live, p] : probes_) p->stop();  // endpoints (or checks) no longer configured
  probes_ = std::move(next);
}

void checker::stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& [live, p] : probes_) p->stop();
  probes_.clear();
}

}  // namespace lb::health
