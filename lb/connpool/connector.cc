#include "lb/connpool/connector.h"

#include <openssl/ssl.h>

#include "lb/core/log.h"
#include "lb/io/socket_stream.h"
#include "lb/io/tls_stream.h"

namespace lb::connpool {

namespace {

void count_failure(const upstream::pool_snapshot& pool, unsigned worker_id, std::size_t ep) {
  pool.live[ep]->stats[worker_id].connect_failures.add();
  pool.live[ep]->stats[worker_id].responses.add(0);
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
  if (!pool.tls) {
    connecting = nullptr;
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
  auto c = std::make_shared<upstream_conn>(std::move(tls), ep, pool.live[ep]);
  c->session = std::move(slot);
  co_return c;
}

}  // namespace lb::connpool
