#pragma once
// Opening a new upstream connection for a pick, whatever plane asked for it:
// TCP connect, then for a pool with `tls:` the client handshake (resuming the
// endpoint's last session on this worker when it can).

#include <cstddef>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "lb/connpool/idle_pool.h"
#include "lb/io/deadline.h"
#include "lb/upstream/pool_snapshot.h"
#include "lb/upstream/worker_pool.h"

namespace lb::connpool {

// Thread: worker `worker_id` (`wp` is its state of `pool`). Connects to
// endpoint `ep` of `pool`. While it connects, `connecting` points at the new
// stream, so a timeout can cancel it (`deadline` says whether one did);
// connect_timeout covers the TLS handshake too. `preamble` (a PROXY header)
// is written before the handshake, in the clear. On failure returns nullptr,
// counted in the endpoint's connect failures (and as a response with no
// status), with `failure` set to a static reason: "connect_failed",
// "connect_timeout", "upstream_tls_verify_failed: <why>" or "upstream_tls_failed".
boost::asio::awaitable<upstream_ptr> connect(boost::asio::io_context& io, unsigned worker_id,
                                             const upstream::pool_snapshot& pool, upstream::worker_pool& wp,
                                             std::size_t ep, io::stream*& connecting, const io::deadline& deadline,
                                             std::string_view& failure, std::string_view preamble = {});

}  // namespace lb::connpool
