#pragma once
// The HTTP/1 plane: one client connection on one worker, serving its requests
// in order (pipelining included) through the router, the forwarder and the
// worker's upstream connection pool; parked between requests when idle.
// Bodies stream through a fixed-size buffer in both directions, so memory per
// exchange is bounded whatever the body size, and a slow reader slows the
// writer (back-pressure).

#include "lb/listener/plane.h"
#include "lb/runtime/fwd.h"

namespace lb::proto::http {

// Thread: owning worker. The plane's entry (a listener::plane_fn): takes the
// accepted connection over.
void start_connection(runtime::worker& w, listener::accepted_connection&& c);

}  // namespace lb::proto::http
