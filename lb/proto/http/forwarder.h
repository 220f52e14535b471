#pragma once
// The upstream side of one request, whatever protocol carried it downstream:
// pick an endpoint, reuse an idle connection or connect, send the request,
// read the response head, and retry on another endpoint (or on a fresh
// connection) where that is safe. It takes a protocol-neutral request view and
// a body source, and returns the response head for the plane to relay, or the
// answer lb gives itself; it never writes to the client.
//
// The upstream codec is HTTP/1.1 (Beast's parser reads the response head); an
// HTTP/2 upstream will be a second codec under the same loop.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>

#include "lb/config/config.h"
#include "lb/connpool/idle_pool.h"
#include "lb/proto/http/exchange.h"
#include "lb/proto/http/local_response.h"
#include "lb/proto/http/message.h"
#include "lb/proto/http/relay.h"
#include "lb/upstream/affinity.h"
#include "lb/upstream/pool_snapshot.h"
#include "lb/upstream/worker_pool.h"
#include "lb/runtime/fwd.h"

namespace lb::proto::http {

// Of a body still streaming from the client, what an upload keeps of what it
// sent, so that a stream an HTTP/2 endpoint refused can be sent again (RFC
// 9113's default stream window: most uploads).
constexpr std::size_t max_upload_replay = 64 * 1024;

// A request body still arriving from the client, streamed upstream while the
// response is read: an upstream that answers early (413) or while still
// reading never deadlocks against the upload.
class body_source {
 public:
  virtual ~body_source() = default;
  // Thread: worker. Starts streaming to `up`: the upstream request head,
  // then the body. Called at most once per request.
  virtual boost::asio::awaitable<void> start(const connpool::upstream_ptr& up) = 0;
  // Started and not yet waited for by finish().
  virtual bool running() const = 0;
  virtual bool done() const = 0;
  // How it ended; meaningful once done().
  virtual relay_result result() const = 0;
  // Thread: worker. Waits for the upload to end; `abort` cancels it first.
  virtual boost::asio::awaitable<void> finish(bool abort) = 0;
  // Thread: worker; after finish(). Makes the source start over for another
  // attempt (an upstream that refused the request unprocessed): true when it
  // still holds everything it sent, false when it cannot.
  virtual bool rewind() { return false; }
};

// What the forwarder needs of a request.
struct request_view {
  const std::string& head;                // the upstream request head, written for the route
  boost::asio::const_buffer body;         // a body that arrived whole with the head, else empty
  body_source* streamed = nullptr;        // a body still arriving, else null
  bool replayable = true;                 // no body, or one that arrived whole: it can be sent again
  bool idempotent = true;                 // RFC 9110 §9.2.2
  bool head_method = false;               // HEAD: no response body, whatever the head says
  // The endpoint the pool's affinity cookie names (upstream::no_endpoint:
  // none); tried first while it can take the request.
  std::size_t sticky = upstream::no_endpoint;
};

// Requests in flight to an endpoint (least_request's load), held per attempt
// and, for the attempt that answered, until its response is relayed.
class in_flight_guard {
 public:
  in_flight_guard() = default;
  in_flight_guard(in_flight_guard&& o) noexcept : e_(std::exchange(o.e_, nullptr)) {}
  in_flight_guard& operator=(in_flight_guard&& o) noexcept {
    if (this != &o) {
      reset();
      e_ = std::exchange(o.e_, nullptr);
    }
    return *this;
  }
  ~in_flight_guard() { reset(); }
  void set(upstream::endpoint_live* e) {
    reset();
    e_ = e;
    e_->in_flight.fetch_add(1, std::memory_order_relaxed);
  }
  void reset() {
    if (e_) e_->in_flight.fetch_sub(1, std::memory_order_relaxed);
    e_ = nullptr;
  }

 private:
  upstream::endpoint_live* e_ = nullptr;
};

struct forward_result {
  enum class kind {
    response,   // the upstream answered: the head is parsed, its body follows on `up`
    local,      // lb answers `status` itself
    abandoned,  // the client went away mid-body: nothing to answer
  };
  kind what = kind::response;
  local_status status{};
  std::string_view reason;
  bool body_failed = false;  // local: the client's body was at fault (the connection closes)
  connpool::upstream_ptr up;
  std::size_t head_len = 0;  // response: the head's length on the wire
  std::size_t endpoint = 0;  // response: the endpoint that answered (index in the pool)
  in_flight_guard in_flight;
};

// Where the forwarder runs and reports: the exchange's timing, stats and
// the upstream stream in use (so a timeout can cancel it).
struct forward_context {
  runtime::worker& worker;
  runtime::session_base& owner;
  exchange& ex;
};

// Thread: worker. Closes `up` (when set) and forgets it, in the exchange too.
void drop_upstream(exchange& ex, connpool::upstream_ptr& up);

// Thread: worker. Forwards `rq` to `pool` for `route`, parsing the response
// head into `res` (built with `alloc`). `hash`: the request's key for hash
// balancers. Retries follow the route's policy and the worker's retry budget:
// a connection that fails is always retried elsewhere; a dead reused idle
// connection is retried on a fresh one when the request is replayable; a
// reset or a retryable status only when it is also idempotent.
boost::asio::awaitable<forward_result> forward(forward_context& ctx, const upstream::pool_snapshot& pool,
                                               upstream::worker_pool& wpool, const config::route& route,
                                               std::uint64_t hash, const request_view& rq,
                                               std::optional<response_parser>& res, const fields_allocator& alloc);

}  // namespace lb::proto::http
