#include "lb/listener/route_limits.h"

#include <algorithm>

#include "lb/listener/client_limits.h"

namespace lb::listener {

void route_slot::hold(upstream::route_live& live, unsigned worker, std::uint16_t generation, std::uint32_t slot) {
  release();
  live_ = &live;
  worker_ = worker;
  generation_ = generation;
  slot_ = slot;
}

void route_slot::release() {
  if (!live_) return;
  live_->clients[worker_].release(generation_, slot_);
  live_ = nullptr;
}

route_verdict admit_route_request(unsigned worker, const config::route_client_limits& limits,
                                  upstream::route_live& live, const client_key& key,
                                  std::chrono::steady_clock::time_point now, route_slot& slot) {
  if (in_blocks(limits.allowlist, key)) return {};
  auto& limiter = live.clients[worker];
  auto& table = limiter.table(limits.table_size);
  auto* e = table.get(key);
  // Every tracked client has requests in flight: this one goes untracked.
  if (!e) return {};
  auto& stats = live.stats[worker];
  if (limits.concurrent_requests && e->connections >= limits.concurrent_requests) {
    stats.client_limited[static_cast<std::size_t>(upstream::route_limit::concurrent_requests)].add();
    // One second is a guess: the requests in flight decide, not a rate.
    return {true, 1, "route_concurrent_requests"};
  }
  if (limits.requests_per_second) {
    const auto rate = static_cast<double>(limits.requests_per_second);
    const auto burst = static_cast<double>(limits.burst);  // the decoder defaults it to the rate
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
    if (!e->request_rate.take(rate, burst, ns)) {
      stats.client_limited[static_cast<std::size_t>(upstream::route_limit::request_rate)].add();
      return {true, static_cast<std::uint32_t>(e->request_rate.retry_after_s(rate)), "route_request_rate"};
    }
  }
  if (limits.concurrent_requests) {
    const auto i = table.index_of(*e);
    table.open(i);
    slot.hold(live, worker, limiter.generation(), i);
  }
  return {};
}

}  // namespace lb::listener
