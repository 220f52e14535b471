#include "lb/connpool/connector.h"

#include "lb/core/log.h"
#include "lb/io/socket_stream.h"

namespace lb::connpool {

boost::asio::awaitable<upstream_ptr> connect(boost::asio::io_context& io, unsigned worker_id,
                                             const upstream::pool_snapshot& pool, std::size_t ep,
                                             io::stream*& connecting, const io::deadline& deadline) {
  auto s = std::make_unique<io::socket_stream>(io);
  connecting = s.get();
  const auto ec = co_await s->connect(pool.addrs[ep]);
  connecting = nullptr;
  if (ec) {
    pool.live[ep]->stats[worker_id].connect_failures.add();
    pool.live[ep]->stats[worker_id].responses.add(0);
    // Every request fails this way while an endpoint is down: build no message unless it is logged.
    if (log::enabled(log::level::debug))
      log::debug("upstream connect failed", {{"pool", pool.cfg->name},
                                              {"endpoint", pool.labels[ep]},
                                              {"error", deadline.fired ? "timeout" : ec.message()}});
    co_return nullptr;
  }
  co_return std::make_shared<upstream_conn>(std::move(s), ep, pool.live[ep]);
}

}  // namespace lb::connpool
