#pragma once
// Bytes both ways between two streams until both directions end: the TCP
// plane's core, and what an HTTP/1 connection becomes after a 101 (WebSocket).
//
// - Half-close: a side that ends cleanly (FIN) has it passed on to the other
//   side (shutdown of its send direction) while the other direction keeps
//   flowing; `half_close` then bounds how long that may last.
// - Resets: a side that fails (an RST from its peer) has the other side
//   closed abortively (SO_LINGER 0: an RST, never a clean FIN that would make
//   a truncated flow look complete).
// - Memory: plain sockets are waited on for readiness without a buffer, and
//   a 64 KiB block is borrowed from the worker only while bytes are in hand,
//   so a quiet flow holds no buffer. A direction whose reads keep filling the
//   block moves to splice() through a pipe when `splice` allows.
// - Back-pressure: a direction reads again only once its last bytes are
//   written, so a slow reader slows its writer.

#include <array>
#include <cstdint>
#include <memory>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "lb/config/config.h"
#include "lb/io/deadline.h"
#include "lb/io/stream.h"
#include "lb/metrics/counters.h"
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

// What a flow may do beyond the plain pump (a WebSocket tunnel uses none).
struct pump_options {
  // Armed `half_close_timeout` once one direction has ended cleanly.
  io::deadline* half_close = nullptr;
  config::duration half_close_timeout{};
  // Bulk directions between two plain sockets may move to splice().
  bool splice = false;
  // a -> b only: a PROXY header signature at the start of the flow ends it
  // (`a` is a peer not trusted to send one).
  bool refuse_proxy_header = false;
  // Per-chunk counters of bytes moved, by direction (0: a -> b, 1: b -> a);
  // null entries are skipped.
  std::array<std::array<metrics::local_counter*, 2>, 2> counters{};
};

// How a flow went, for its access log line and lb_tcp_sessions_total.
struct pump_report {
  std::array<std::uint64_t, 2> bytes{};  // moved a -> b, b -> a
  std::array<bool, 2> reset{};            // a / b failed (reset, error): the other got an RST
  std::array<bool, 2> finished{};         // a / b ended its sending cleanly (FIN)
  bool refused = false;                   // refuse_proxy_header matched
  bool spliced = false;                   // some bytes went through a pipe
};

// Thread: worker `w`. Returns once both directions have ended; the streams
// are then closed or shut in both directions. `keep` holds whatever owns the
// ends alive until then.
boost::asio::awaitable<pump_report> pump_flow(runtime::worker& w, pump_end a, pump_end b, pump_timing t,
                                              const pump_options& opts, std::shared_ptr<void> keep);

// Thread: worker `w`. pump_flow() with no options (the WebSocket tunnel).
boost::asio::awaitable<void> pump_both(runtime::worker& w, pump_end a, pump_end b, pump_timing t,
                                       std::shared_ptr<void> keep);

}  // namespace lb::proto::tcp
