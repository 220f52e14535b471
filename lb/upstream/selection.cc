#include "lb/upstream/selection.h"

#include <algorithm>

#include "lb/core/log.h"

namespace lb::upstream {

namespace {

// Under max_connections_per_endpoint, or with an idle connection of its own
// to reuse (which opens none).
bool under_cap(const config::pool& cfg, worker_pool& wp, std::size_t i, std::uint32_t connections) {
  return !cfg.max_connections_per_endpoint || connections < cfg.max_connections_per_endpoint || wp.idle.has_idle(i);
}

}  // namespace

// Weights are scaled by 100 so slow start can ramp in 1% steps.
std::uint32_t effective_weight(std::uint32_t configured, const endpoint_live& e, std::int64_t now,
                               clock::duration slow_start) {
  const std::uint32_t full = configured * 100;
  if (slow_start.count() <= 0) return full;
  const auto elapsed = now - e.ready_since.load(std::memory_order_relaxed);
  if (elapsed >= slow_start.count()) return full;
  // Envoy's slow start: linear ramp with a floor, so a recovering endpoint
  // still gets a trickle of traffic to prove itself.
  const double share = std::max(0.1, static_cast<double>(std::max<std::int64_t>(elapsed, 0)) /
                                         static_cast<double>(slow_start.count()));
  return std::max<std::uint32_t>(1, static_cast<std::uint32_t>(full * share));
}

pick_result pick(const pool_snapshot& pool, worker_pool& wp, const tried_set& tried,
                 std::uint64_t hash, clock::time_point now_tp) {
  const auto now = ticks(now_tp);
  const auto& cfg = *pool.cfg;
  const auto slow = std::chrono::duration_cast<clock::duration>(cfg.slow_start);
  const std::size_t n = pool.live.size();
  bool any_untried = false, any_healthy = false;
  for (std::size_t i = 0; i < n; ++i) {
    const auto& e = *pool.live[i];
    const auto connections = e.connections.load(std::memory_order_relaxed);
    // Load is requests in flight, for least_conn too: like nginx's peer->conns,
    // idle keep-alive connections are not load.
    wp.loads[i] = e.in_flight.load(std::memory_order_relaxed);
    wp.weights[i] = 0;
    if (tried.test(i)) continue;
    any_untried = true;
    if (!e.usable(now)) continue;
    any_healthy = true;
    if (!under_cap(cfg, wp, i, connections)) continue;
    wp.weights[i] = effective_weight(pool.weights[i], e, now, slow);
  }
  const int i = wp.balancer->pick({wp.weights.data(), wp.loads.data(), n, hash});
  if (i >= 0) return {pick_result::outcome::picked, static_cast<std::size_t>(i)};
  if (n == 0) return {pick_result::outcome::none_healthy, 0};  // a pool without endpoints: 503
  if (!any_untried) return {pick_result::outcome::all_tried, 0};
  if (!any_healthy) return {pick_result::outcome::none_healthy, 0};
  return {pick_result::outcome::all_full, 0};
}

bool available(const pool_snapshot& pool, worker_pool& wp, const tried_set& tried, std::size_t i,
               clock::time_point now) {
  if (i >= pool.live.size() || tried.test(i)) return false;
  const auto& e = *pool.live[i];
  return e.usable(ticks(now)) && under_cap(*pool.cfg, wp, i, e.connections.load(std::memory_order_relaxed));
}

void record(const pool_snapshot& pool, std::size_t index, bool failure, clock::time_point now_tp) {
  auto& e = *pool.live[index];
  if (!failure) {
    // Read first: a healthy endpoint's streak is 0, and a store would bounce
    // the cache line between workers on every request.
    if (e.consecutive_failures.load(std::memory_order_relaxed) != 0)
      e.consecutive_failures.store(0, std::memory_order_relaxed);
    return;
  }
  if (!pool.cfg->outlier || pool.cfg->outlier->max_ejected_percent == 0) return;
  const auto& o = *pool.cfg->outlier;
  const auto streak = e.consecutive_failures.fetch_add(1, std::memory_order_relaxed) + 1;
  if (streak < o.consecutive_failures) return;
  const auto now = ticks(now_tp);
  if (e.ejected(now)) return;
  std::size_t ejected = 0;
  for (const auto& other : pool.live) ejected += other->ejected(now) ? 1 : 0;
  // At least one endpoint may always be ejected (Envoy does the same), else
  // a small pool with a low percentage could never eject anything; 0% never ejects.
  if (ejected > 0 && (ejected + 1) * 100 > o.max_ejected_percent * pool.live.size()) return;
  const auto times = std::min<std::uint32_t>(e.ejections.fetch_add(1, std::memory_order_relaxed) + 1, 10);
  const auto length = std::chrono::duration_cast<clock::duration>(o.base_ejection) * times;
  const auto until = now + length.count();
  e.ejected_until.store(until, std::memory_order_relaxed);
  e.ready_since.store(until, std::memory_order_relaxed);  // slow start when it returns
  e.consecutive_failures.store(0, std::memory_order_relaxed);
  log::warn("endpoint ejected", {{"pool", pool.cfg->name},
                                 {"endpoint", e.address},
                                 {"failures", std::to_string(streak)},
                                 {"for_ms", std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(length).count())}});
}

}  // namespace lb::upstream
