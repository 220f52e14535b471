#include "lb/connpool/connector.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "lb/connpool/h2_connection.h"
#include "lb/core/log.h"
#include "lb/io/socket_stream.h"
#include "lb/io/tls_stream.h"

namespace lb::connpool {

namespace {

void count_failure(const upstream::pool_snapshot& pool, unsigned worker_id, std::size_t ep) {
  pool.live[ep]->stats[worker_id].connect_failures.add();
  pool.live[ep]->stats[worker_id].responses.add(0);
}

// An h2/h2c pool's new connection: it joins the worker's h2_pool, and the
// request gets its first stream.
upstream_ptr start_h2(boost::asio::io_context& io, const upstream::pool_snapshot& pool, upstream::worker_pool& wp,
                      std::size_t ep, std::unique_ptr<io::stream> s, std::shared_ptr<tls::session_slot> slot) {
  auto c = std::make_shared<h2_connection>(io, std::move(s), std::move(slot), pool.tls != nullptr,
                                           pool.cfg->max_concurrent_streams);
  c->start();
  return wp.h2.add(ep, std::move(c), pool.live[ep]);
}

}  // namespace

boost::asio::awaitable<upstream_ptr> connect(boost::asio::io_context& io, unsigned worker_id,
                                             const upstream::pool_snapshot& pool, upstream::worker_pool& wp,
                                             std::size_t ep, io::stream*& connecting, const io::deadline& deadline,
                                             std::string_view& failure, std::string_view preamble) {
  auto s = std::make_unique<io::socket_stream>(io);
  connecting = s.get();
  auto ec = co_await s->connect(pool.addrs[ep]);
  if (!ec && !preamble.empty()) ec = co_await s->write(boost::asio::buffer(preamble.data(), preamble.size()));
  if (ec) {
    connecting = nullptr;
    count_failure(pool, worker_id, ep);
    failure = deadline.fired ? "connect_timeout" : "connect_failed";
    // Every request fails this way while an endpoint is down: build no message unless it is logged.
    if (log::enabled(log::level::debug))
      log::debug("upstream connect failed", {{"pool", pool.cfg->name},
                                              {"endpoint", pool.labels[ep]},
                                              {"error", deadline.fired ? "timeout" : ec.message()}});
    co_return nullptr;
  }
  const bool h2 = pool.cfg->protocol != config::upstream_protocol::h1;
  if (!pool.tls) {
    connecting = nullptr;
    if (h2) co_return start_h2(io, pool, wp, ep, std::move(s), nullptr);
    co_return std::make_shared<upstream_conn>(std::move(s), ep, pool.live[ep]);
  }

  auto slot = wp.sessions[ep];
  ssl_st* ssl = pool.tls->new_ssl(pool.hosts[ep], slot.get());
  if (!ssl) {
    connecting = nullptr;
    count_failure(pool, worker_id, ep);
    failure = "upstream_tls_failed";
    co_return nullptr;
  }
  auto tls = std::make_unique<io::tls_stream>(std::move(s), ssl);  // `connecting` (the socket) lives on inside
  ec = co_await tls->handshake();
  connecting = nullptr;
  auto& counts = pool.stats->stats[worker_id].tls_handshakes;
  if (ec) {
    count_failure(pool, worker_id, ep);
    const auto why = tls::classify_failure(ssl);
    const auto outcome = why.verify ? upstream::tls_outcome::verify_failed : upstream::tls_outcome::failed;
    counts[static_cast<std::size_t>(outcome)].add();
    failure = deadline.fired ? std::string_view("connect_timeout") : why.reason;
    // An endpoint that speaks no h2 refuses the handshake (RFC 7301 §3.2).
    if (h2 && ERR_GET_REASON(tls->last_error()) == SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL)
      failure = "upstream_h2_not_negotiated";
    // The reason reaches the access log; this is for debugging only.
    if (log::enabled(log::level::debug))
      log::debug("upstream TLS handshake failed", {{"pool", pool.cfg->name},
                                                {"endpoint", pool.labels[ep]},
                                                {"reason", deadline.fired ? "timeout" : why.reason}});
    tls->close();
    co_return nullptr;
  }
  const auto outcome = SSL_session_reused(ssl) ? upstream::tls_outcome::resumed : upstream::tls_outcome::full;
  counts[static_cast<std::size_t>(outcome)].add();
  if (h2) {
    const unsigned char* alpn = nullptr;
    unsigned alpn_len = 0;
    SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
    if (std::string_view(reinterpret_cast<const char*>(alpn), alpn_len) != "h2") {
      // The endpoint would answer HTTP/1.1 to frames: a configuration error, said once per connection.
      count_failure(pool, worker_id, ep);
      failure = "upstream_h2_not_negotiated";
      if (log::enabled(log::level::debug))
        log::debug("upstream did not select h2 by ALPN", {{"pool", pool.cfg->name}, {"endpoint", pool.labels[ep]}});
      tls->close();
      co_return nullptr;
    }
    co_return start_h2(io, pool, wp, ep, std::move(tls), std::move(slot));
  }
  auto c = std::make_shared<upstream_conn>(std::move(tls), ep, pool.live[ep]);
  c->session = std::move(slot);
  co_return c;
}

}  // namespace lb::connpool
