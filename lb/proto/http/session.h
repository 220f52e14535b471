#pragma once
// The HTTP/1.1 session: one client connection on one worker, serving its
// requests in order (pipelining included) through the router, the balancer and
// the worker's upstream connection pool. Bodies stream through a fixed-size
// buffer in both directions, so memory per exchange is bounded whatever the
// body size, and a slow reader slows the writer (back-pressure).

#include <atomic>
#include <cstdint>

#include <boost/asio/ip/tcp.hpp>

namespace lb::runtime {
class worker;
}

namespace lb::proto::http {

// Thread: owning worker. Takes over an accepted client socket. `connections`
// is the listener's shared open-connection count; the session decrements it
// when it ends.
void start_session(runtime::worker& w, std::size_t listener_index, boost::asio::ip::tcp::socket sock,
                   std::atomic<std::uint64_t>* connections);

}  // namespace lb::proto::http
