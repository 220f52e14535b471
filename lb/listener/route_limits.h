#pragma once
// Per-client limits of a route (`client_limits:` on a route): requests per
// second and requests in flight at once from one client address, counting
// that route's requests alone (ingress-nginx's limit-rps and
// limit-connections, which are per Ingress). The state is the route's client
// table on the request's worker, as for a listener's limits: no locks.

#include <chrono>
#include <cstdint>
#include <string_view>

#include "lb/config/config.h"
#include "lb/listener/client_table.h"
#include "lb/upstream/live.h"

namespace lb::listener {

// A request's place in its client's count of requests in flight on a route,
// given back when the request ends (on the worker that took it). The route's
// live object outlives it: the request holds the snapshot that holds it.
class route_slot {
 public:
  route_slot() = default;
  route_slot(const route_slot&) = delete;
  route_slot& operator=(const route_slot&) = delete;
  ~route_slot() {
    if (live_) release();
  }
  void hold(upstream::route_live& live, unsigned worker, std::uint16_t generation, std::uint32_t slot);
  void release();

 private:
  upstream::route_live* live_ = nullptr;
  unsigned worker_ = 0;
  std::uint16_t generation_ = 0;
  std::uint32_t slot_ = 0;
};

struct route_verdict {
  bool refused = false;
  std::uint32_t retry_after = 0;  // seconds, for the 429's Retry-After
  std::string_view reason;        // the access log's: route_request_rate, route_concurrent_requests
};

// Thread: owning worker. Whether a request of client `key` may take route
// `limits` belongs to (`live`); a refused one is counted. An admitted one
// under concurrent_requests holds its place through `slot`.
route_verdict admit_route_request(unsigned worker, const config::route_client_limits& limits,
                                  upstream::route_live& live, const client_key& key,
                                  std::chrono::steady_clock::time_point now, route_slot& slot);

}  // namespace lb::listener
