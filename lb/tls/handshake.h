#pragma once
// The TLS stage of a listener with `tls:`: the handshake, under the
// listener's handshake_timeout, then the connection's stream becomes a TLS
// stream for the plane. Completed handshakes are counted by version and
// resumption, failures by reason (lb_tls_handshake*_total).

#include <boost/asio/awaitable.hpp>

#include "lb/listener/plane.h"
#include "lb/runtime/fwd.h"

namespace lb::tls {

// Thread: owning worker. A listener::stage_fn. `c.stream` must be the plain
// stream the acceptor made. Returns false, the connection dropped and the
// failure counted, when the handshake fails, times out or the worker drains.
boost::asio::awaitable<bool> handshake_stage(runtime::worker& w, const runtime::listener_snapshot& ls,
                                             listener::accepted_connection& c);

}  // namespace lb::tls
