#pragma once
// The HTTP/1.1 session: one client connection on one worker, serving its
// requests in order (pipelining included) through the router, the balancer and
// the worker's upstream connection pool. Bodies stream through a fixed-size
// buffer in both directions, so memory per exchange is bounded whatever the
// body size, and a slow reader slows the writer (back-pressure).

#include <atomic>
#include <cstdint>

#include <boost/asio/ip/tcp.hpp>

#include "lb/runtime/connection_ticket.h"

namespace lb::runtime {
class worker;
}

namespace lb::proto::http {

// Thread: owning worker. Takes over an accepted client socket, counted by
// `ticket` in its listener (at `listener_index` in the worker's current
// snapshot), from `peer`.
void start_session(runtime::worker& w, runtime::connection_ticket ticket, boost::asio::ip::tcp::socket sock,
                   const boost::asio::ip::address& peer, std::size_t listener_index);

}  // namespace lb::proto::http
