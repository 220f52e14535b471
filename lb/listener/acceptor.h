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

}  // namespace lb::listener
