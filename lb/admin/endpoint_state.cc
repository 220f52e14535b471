#include "lb/admin/endpoint_state.h"

#include <chrono>

#include "lb/admin/sums.h"
#include "lb/core/time_text.h"
#include "lb/upstream/selection.h"

namespace lb::admin {

using json = nlohmann::ordered_json;

std::string code_label(std::size_t slot) { return std::string(metrics::status_counters::code_text(slot)); }

namespace {

// The last active check: null until one finished (or without health_check).
json check_json(const upstream::endpoint_live::check_result& c) {
  if (!c.done) return nullptr;
  return {{"result", c.ok ? "pass" : "fail"}, {"reason", c.reason}, {"at", rfc3339_utc(c.at_unix_ms)}};
}

}  // namespace

json endpoint_state(const runtime::pool_snapshot& ps, std::size_t e, std::int64_t now) {
  const auto& ep = *ps.live[e];
  const auto until = ep.ejected_until.load(std::memory_order_relaxed);
  const bool ejected = until > now;
  const double until_s = ejected ? std::chrono::duration<double>(upstream::clock::duration(until - now)).count() : 0.0;

  const auto by_slot = sum_status(ep.stats, [](const upstream::endpoint_worker_stats& s) -> const auto& { return s.responses; });
  json requests = json::object();
  for (std::size_t slot = 0; slot < by_slot.size(); ++slot) {
    if (by_slot[slot] != 0) requests[code_label(slot)] = by_slot[slot];
  }
  std::uint64_t failures = 0;
  for (unsigned w = 0; w < ep.stats.size(); ++w) failures += ep.stats[w].connect_failures.get();

  json j;
  j["address"] = ps.labels[e];
  j["resolved"] = runtime::endpoint_text(ps.addrs[e]);
  j["weight"] = ps.weights[e];
  // What picks use now: the weight ramped by slow_start (0 when not eligible).
  j["effective_weight"] =
      ep.usable(now) ? upstream::effective_weight(ps.weights[e], ep, now,
                                                  std::chrono::duration_cast<upstream::clock::duration>(ps.cfg->slow_start)) /
                           100.0
                     : 0.0;
  j["healthy"] = ep.healthy.load(std::memory_order_relaxed);
  j["check"] = check_json(ep.last_check);
  j["ejected"] = ejected;
  j["ejected_until"] = until_s;
  j["ejections"] = ep.ejections.load(std::memory_order_relaxed);
  j["consecutive_failures"] = ep.consecutive_failures.load(std::memory_order_relaxed);
  j["in_flight"] = ep.in_flight.load(std::memory_order_relaxed);
  j["connections"] = ep.connections.load(std::memory_order_relaxed);
  j["connect_failures"] = failures;
  j["requests"] = std::move(requests);
  return j;
}

}  // namespace lb::admin
