#pragma once
// Bytes both ways between two streams until both directions end: the TCP
// plane's core, and what an HTTP/1 connection becomes after a 101 (WebSocket).
// A side that ends cleanly passes its half-close on (FIN); an error on either
// side closes both.

#include <memory>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "lb/config/config.h"
#include "lb/io/deadline.h"
#include "lb/io/stream.h"
#include "lb/runtime/fwd.h"

namespace lb::proto::tcp {

// One end: its stream, and bytes already read from it that the other end
// has not been sent yet.
struct pump_end {
  io::stream& stream;
  boost::beast::flat_buffer& pending;
};

// Each byte moved pushes `deadline` `idle` further (armed through `owner`):
// the flow ends when it sits idle that long.
struct pump_timing {
  runtime::session_base& owner;
  io::deadline& deadline;
  config::duration idle;
};

// Thread: worker `w`. Returns once both directions have ended. `keep` holds
// whatever owns the ends alive until then.
boost::asio::awaitable<void> pump_both(runtime::worker& w, pump_end a, pump_end b, pump_timing t,
                                       std::shared_ptr<void> keep);

}  // namespace lb::proto::tcp
