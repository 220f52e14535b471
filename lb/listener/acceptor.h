#pragma once
// The per-worker accept loop of one listener (Envoy's per-worker listener,
// nginx's ngx_event_accept): the kernel spreads connections across workers'
// SO_REUSEPORT sockets, and each accepted connection stays on its worker.

#include <memory>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

namespace lb::runtime {
class worker;
struct worker_listener;
}  // namespace lb::runtime

namespace lb::listener {

// Thread: owning worker. Accepts until the acceptor is closed; the handlers
// in flight keep `l` alive.
void start_accepting(runtime::worker& w, std::shared_ptr<runtime::worker_listener> l);

// Thread: control. Opens `count` listening sockets on `ep`, all with
// SO_REUSEPORT, each registered with the io_context at the same index. Port 0
// is resolved by the first socket and reused by the others. Throws
// boost::system::system_error on failure (control side may throw).
std::vector<boost::asio::ip::tcp::acceptor> bind_reuseport(
    const std::vector<boost::asio::io_context*>& ios, boost::asio::ip::tcp::endpoint ep);

}  // namespace lb::listener
