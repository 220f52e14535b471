#pragma once
// Per-worker idle upstream connections, per endpoint (nginx's upstream keepalive,
// Pingora's pool). Never shared between workers, so never locked. Most recently
// used first, so a small set of connections stays warm and the rest age out.
// A connection idle for a whole sweep gets a read-readiness wait armed: if the
// upstream closes it (or sends anything unsolicited) it leaves the pool then.
// One reused within a sweep never pays for the wait (an epoll_ctl per arm);
// if it died unwatched, the session retries on a fresh connection.

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include <boost/beast/core/flat_buffer.hpp>

#include "lb/io/stream.h"
#include "lb/upstream/live.h"

namespace lb::tls {
class session_slot;
}

namespace lb::connpool {

// An open upstream connection. It counts itself in its endpoint's live
// connection total (read by least_conn and the circuit breaker) while it exists.
struct upstream_conn {
  upstream_conn(std::unique_ptr<io::stream> s, std::size_t ep, std::shared_ptr<upstream::endpoint_live> l)
      : stream(std::move(s)), endpoint(ep), live(std::move(l)) {
    live->connections.fetch_add(1, std::memory_order_relaxed);
  }
  ~upstream_conn() { live->connections.fetch_sub(1, std::memory_order_relaxed); }
  upstream_conn(const upstream_conn&) = delete;
  upstream_conn& operator=(const upstream_conn&) = delete;

  // TLS: where new sessions of this connection go; declared before `stream`
  // so it outlives the SSL that points at it.
  std::shared_ptr<tls::session_slot> session;
  std::unique_ptr<io::stream> stream;  // never null
  boost::beast::flat_buffer buf;  // bytes read from the upstream, not yet parsed
  std::size_t endpoint;            // index in the pool snapshot it was opened for
  std::shared_ptr<upstream::endpoint_live> live;
  // One stream of a shared HTTP/2 connection (h2_pool), not a connection of
  // its own: released by closing it, never parked here.
  bool multiplexed = false;
  // Pool bookkeeping.
  bool in_pool = false;
  bool watched = false;
  std::uint64_t generation = 0;
  std::chrono::steady_clock::time_point idle_since{};
};

using upstream_ptr = std::shared_ptr<upstream_conn>;

class idle_pool {
 public:
  using clock = std::chrono::steady_clock;

  idle_pool(std::size_t endpoints, std::uint32_t max_idle, clock::duration idle_timeout)
      : idle_(endpoints), max_idle_(max_idle), idle_timeout_(idle_timeout) {}

  // Thread: owning worker. An idle connection to `endpoint`, or nullptr.
  upstream_ptr acquire(std::size_t endpoint);

  // Thread: owning worker. Keeps `c` for reuse (its buffer must be empty), or
  // closes it when the endpoint already has `max_idle` idle connections.
  void release(upstream_ptr c);

  // Thread: owning worker. Closes connections idle longer than idle_timeout
  // and starts watching the others.
  void sweep(clock::time_point now);

  // Thread: owning worker. Closes every idle connection (drain, shutdown).
  void close_all();
  bool has_idle(std::size_t endpoint) const { return !idle_[endpoint].empty(); }

 private:
  void remove(const upstream_ptr& c);
  void watch(const upstream_ptr& c);

  std::vector<std::vector<upstream_ptr>> idle_;  // per endpoint, LIFO
  std::uint32_t max_idle_;
  clock::duration idle_timeout_;
};

}  // namespace lb::connpool
