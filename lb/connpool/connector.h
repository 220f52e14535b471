#pragma once
// Opening a new upstream connection for a pick, whatever plane asked for it.

#include <cstddef>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "lb/connpool/idle_pool.h"
#include "lb/io/deadline.h"
#include "lb/upstream/pool_snapshot.h"

namespace lb::connpool {

// Thread: worker `worker_id`. Connects to endpoint `ep` of `pool`. While it
// connects, `connecting` points at the new stream, so a timeout can cancel it
// (`deadline` says whether one did). On failure returns nullptr, counted in the
// endpoint's connect failures (and as a response with no status).
boost::asio::awaitable<upstream_ptr> connect(boost::asio::io_context& io, unsigned worker_id,
                                             const upstream::pool_snapshot& pool, std::size_t ep,
                                             io::stream*& connecting, const io::deadline& deadline);

}  // namespace lb::connpool
