#pragma once
// Per-worker HTTP/2 connections to the endpoints of an h2/h2c pool: a
// request takes a stream on an open connection with a free slot, else the
// forwarder connects and the new connection joins. Never shared between
// workers, so never locked. Like idle_pool it is rebuilt with each snapshot;
// connections to an endpoint that stays move over.

#include <chrono>
#include <cstddef>
#include <memory>
#include <vector>

#include "lb/connpool/h2_connection.h"
#include "lb/connpool/idle_pool.h"

namespace lb::connpool {

class h2_pool {
 public:
  using clock = std::chrono::steady_clock;

  h2_pool(std::size_t endpoints, clock::duration idle_timeout) : conns_(endpoints), idle_timeout_(idle_timeout) {}

  // Thread: owning worker. A stream on an open connection to `endpoint` with
  // a free slot (the busiest such, so idle ones age out), or nullptr.
  upstream_ptr acquire(std::size_t endpoint, const std::shared_ptr<upstream::endpoint_live>& live);

  // Thread: owning worker. `c` (started) joins the pool; returns its first stream.
  upstream_ptr add(std::size_t endpoint, std::shared_ptr<h2_connection> c,
                   const std::shared_ptr<upstream::endpoint_live>& live);

  // Thread: owning worker. Retires connections with no stream for
  // idle_timeout and forgets closed ones.
  void sweep(clock::time_point now);

  // Thread: owning worker. Retires every connection (GOAWAY; open streams finish).
  void close_all();

  // Thread: owning worker. A reload: the connections to `from` go to `to`'s `endpoint`.
  void move_to(std::size_t from, h2_pool& to, std::size_t endpoint);

 private:
  std::vector<std::vector<std::shared_ptr<h2_connection>>> conns_;  // per endpoint
  clock::duration idle_timeout_;
};

// An upstream_conn for one stream of `c` (multiplexed: released by closing).
upstream_ptr stream_of(const std::shared_ptr<h2_connection>& c, std::size_t endpoint,
                       const std::shared_ptr<upstream::endpoint_live>& live);

}  // namespace lb::connpool
