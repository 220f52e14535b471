#pragma once
// Entry points of an HTTP listener that speaks HTTP/2 (listener::plane_fn).

#include "lb/listener/plane.h"

namespace lb::proto::h2 {

// Thread: owning worker. The connection speaks HTTP/2 from its first byte
// (`protocols: [h2]` on a plain listener: h2c with prior knowledge).
void start_connection(runtime::worker& w, listener::accepted_connection&& c);

// Thread: owning worker. HTTP/1.1 or HTTP/2, as the client chose: on TLS the
// ALPN outcome; on a plain listener the first bytes (RFC 9113 §3.4's client
// preface), peeked from the socket so the HTTP/1 plane still reads them all.
void start_negotiated(runtime::worker& w, listener::accepted_connection&& c);

}  // namespace lb::proto::h2
