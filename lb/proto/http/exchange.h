#pragma once
// One request/response exchange of a client connection: what it did (for the
// stats and the access log) and its own timing. A connection runs one at a
// time (HTTP/1); an HTTP/2 connection will run one per stream.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

#include "lb/io/deadline.h"
#include "lb/io/stream.h"
#include "lb/proto/http/trace_context.h"
#include "lb/runtime/fwd.h"

namespace lb::proto::http {

struct exchange {
  using clock = std::chrono::steady_clock;

  // Starts the record over for the next request; the deadlines carry on
  // (the head's deadline was armed before its first byte).
  void begin() {
    status = 0;
    reason = {};
    bytes_in = bytes_out = 0;
    attempts = 0;
    upstream_duration = -1;
    route_index.reset();
    endpoint_label = {};
    method = {};
    target = {};
    keep_alive = true;
    ids.reset();
  }

  clock::time_point start{};
  std::chrono::system_clock::time_point start_wall{};  // read only when the access log is on
  unsigned status = 0;
  std::string_view reason;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::uint32_t attempts = 0;
  double upstream_duration = -1;  // seconds from sending upstream to its response head; -1: none
  std::optional<std::size_t> route_index;
  std::size_t pool_index = 0;
  std::string_view endpoint_label;
  std::string_view method;
  std::string_view target;
  bool keep_alive = true;  // the client asked to keep the connection
  // The client's HTTP version (lb_http_requests_total's `protocol`); set by the plane.
  enum version : std::uint8_t { h1 = 0, h2 = 1 };
  version protocol = h1;
  // X-Request-Id and trace context (listener `request_id:`, `tracing:`).
  trace_ids ids;

  // The request head, the upstream's answer and the response to the client.
  io::deadline deadline;
  // The request body streamed upstream while the response is read.
  io::deadline upload_deadline;
  // The upstream stream in use (connecting or connected), cancelled on timeout.
  io::stream* upstream = nullptr;
};

// Thread: worker `w`. Counts the exchange that just ended in its route's (or
// its listener's) stats and writes its access log line, against the snapshot
// `ws` it ran on. Never throws bad_alloc (a log line that cannot be
// written is dropped and counted): it also runs while one unwinds.
void account(const exchange& ex, runtime::worker& w, const runtime::worker_snapshot& ws, std::size_t listener_index,
             std::string_view client_ip);

}  // namespace lb::proto::http
