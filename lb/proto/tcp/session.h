#pragma once
// The TCP plane: one client connection proxied as a byte stream to one
// endpoint of its listener's pool, on one worker, for its whole life.
//
// - Endpoint: picked by the pool's balancer (hash balancers hash the client
//   address), connected within connect_timeout; a failed or slow connect is
//   retried on the next endpoint, which is safe because no byte has moved yet.
// - Flow: the pump (pump.h) with idle_timeout, half_close_timeout, reset
//   propagation and splice for bulk directions.
// - Reloads: the session keeps the snapshot and the upstream connection it
//   started with, whatever the new config says of its pool or endpoint; only
//   a drain (SIGTERM, its listener removed) ends it, after drain_timeout.
// - Accounting: lb_tcp_* counters per chunk and per session, one access log
//   line per session.

#include "lb/listener/plane.h"
#include "lb/runtime/fwd.h"

namespace lb::proto::tcp {

// Thread: owning worker. The plane's entry (a listener::plane_fn).
void start_session(runtime::worker& w, listener::accepted_connection&& c);

}  // namespace lb::proto::tcp
