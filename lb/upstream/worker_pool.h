#pragma once
// A worker's own state of one pool (never shared, never locked; Envoy's
// thread-aware load balancer): rebuilt from the pool snapshot when a new
// config arrives.

#include <cstdint>
#include <memory>
#include <vector>

#include "lb/balancer/balancer.h"
#include "lb/connpool/h2_pool.h"
#include "lb/connpool/idle_pool.h"
#include "lb/upstream/pool_snapshot.h"

namespace lb::upstream {

// Per-worker state of one pool, rebuilt when a new snapshot arrives: the
// worker's own balancer (cursors, RNG), its idle upstream connections, the
// scratch arrays a pick is described in, and its retry budget.
struct worker_pool {
  worker_pool(const pool_snapshot& p, unsigned worker_id)
      : balancer(p.balancer->make(worker_id + 1)),
        idle(p.addrs.size(), p.cfg->keepalive.max_idle, p.cfg->keepalive.idle_timeout),
        h2(p.addrs.size(), p.cfg->keepalive.idle_timeout),
        weights(p.addrs.size()),
        loads(p.addrs.size()) {
    if (p.tls)
      for (std::size_t i = 0; i < p.addrs.size(); ++i) sessions.push_back(std::make_shared<tls::session_slot>());
  }

  // Thread: owning worker. Closes every idle connection (drain, shutdown,
  // memory pressure); HTTP/2 ones say GOAWAY and let their streams finish.
  void close_idle() {
    idle.close_all();
    h2.close_all();
  }
  void sweep(connpool::idle_pool::clock::time_point now) {
    idle.sweep(now);
    h2.sweep(now);
  }

  std::unique_ptr<balancer::balancer> balancer;
  connpool::idle_pool idle;
  connpool::h2_pool h2;  // h2/h2c pools: shared connections, a stream per request
  std::vector<std::uint32_t> weights;  // pick scratch: effective weight, 0 = not eligible
  std::vector<std::uint32_t> loads;    // pick scratch: in-flight or open connections
  // Retry budget (Finagle's RetryBudget): each request deposits
  // budget_percent/100 of a token, each retry withdraws one.
  double retry_tokens = 10;
  // TLS pools: the session to resume per endpoint (parallel to addrs). Shared
  // with the connections that fill it, which may outlive this snapshot.
  std::vector<std::shared_ptr<tls::session_slot>> sessions;
};

}  // namespace lb::upstream
