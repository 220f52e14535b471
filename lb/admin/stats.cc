#include "lb/admin/stats.h"

#include <cmath>

#include "lb/admin/endpoint_state.h"
#include "lb/config/parse.h"
#include "lb/core/time_text.h"
#include "lb/core/version.h"
#include "lb/upstream/selection.h"

namespace lb::admin {

using json = nlohmann::ordered_json;

namespace {

// 5xx and "no response" (connect failure, reset, timeout) are errors; 4xx are the client's.
std::uint64_t errors_of(const status_totals& t) {
  std::uint64_t n = t[0];
  for (std::size_t s = 1; s < t.size(); ++s)
    if (metrics::status_counters::class_of(s) == 5) n += t[s];
  return n;
}

std::uint64_t total_of(const status_totals& t) {
  std::uint64_t n = 0;
  for (auto c : t) n += c;
  return n;
}

template <class Map>
void prune(Map& m) {
  for (auto it = m.begin(); it != m.end();) {
    if (!it->second.seen) {
      it = m.erase(it);
    } else {
      it->second.seen = false;
      ++it;
    }
  }
}

template <class Map>
auto& touch(Map& m, const std::shared_ptr<const void>& owner) {
  auto& s = m[owner.get()];
  s.owner = owner;
  return s;
}

json maybe(double v, bool known) { return known ? json(v) : json(nullptr); }

double round3(double v) { return std::round(v * 1000) / 1000; }

double unix_to_ms(double s) { return s * 1000; }

}  // namespace

double quantile(const bucket_totals& h, double q) {
  const auto total = h.total();
  if (total == 0) return -1;
  const double rank = q * static_cast<double>(total);
  double cumulative = 0;
  for (std::size_t i = 0; i < h.bounds->n; ++i) {
    const double before = cumulative;
    cumulative += static_cast<double>(h.counts[i]);
    if (cumulative >= rank && h.counts[i] > 0) {
      const double lo = i == 0 ? 0 : h.bounds->v[i - 1];
      const double hi = h.bounds->v[i];
      return lo + (hi - lo) * (rank - before) / static_cast<double>(h.counts[i]);
    }
  }
  return h.bounds->n ? h.bounds->v[h.bounds->n - 1] : -1;
}

void stats_history::sample(const runtime::snapshot& snap, double unix_now) {
  for (const auto& ls : snap.listeners) {
    const auto& w = ls.live->stats;
    point p{unix_now};
    for (unsigned i = 0; i < w.size(); ++i) p.connections += w[i].total.get();
    // HTTP/1.x and HTTP/2 answers together.
    const auto unrouted = sum_status(w, [](const upstream::listener_worker_stats& s) -> const auto& { return s.unrouted; });
    const auto unrouted_h2 =
        sum_status(w, [](const upstream::listener_worker_stats& s) -> const auto& { return s.unrouted_h2; });
    p.requests = total_of(unrouted) + total_of(unrouted_h2);
    p.errors = errors_of(unrouted) + errors_of(unrouted_h2);
    for (const auto& rl : ls.route_stats) {
      const auto by = sum_status(rl->stats, [](const upstream::route_worker_stats& s) -> const auto& { return s.responses; });
      const auto by_h2 =
          sum_status(rl->stats, [](const upstream::route_worker_stats& s) -> const auto& { return s.responses_h2; });
      const point rp{unix_now, total_of(by) + total_of(by_h2), errors_of(by) + errors_of(by_h2), 0};
      p.requests += rp.requests;
      p.errors += rp.errors;
      touch(series_, rl).push(rp);
      touch(hists_, rl).push(sum_buckets(rl->stats, [](const upstream::route_worker_stats& s) -> const auto& { return s.duration; }));
    }
    touch(series_, ls.live).push(p);
  }
  for (const auto& ps : snap.pools) {
    for (const auto& ep : ps.live) {
      const auto by = sum_status(ep->stats, [](const upstream::endpoint_worker_stats& s) -> const auto& { return s.responses; });
      touch(series_, ep).push({unix_now, total_of(by), errors_of(by), 0});
    }
  }
  prune(series_);
  prune(hists_);
}

const stats_history::series* stats_history::find(const void* key) const {
  auto it = series_.find(key);
  return it == series_.end() ? nullptr : &it->second;
}

stats_history::rate stats_history::rate_of(const series* s, std::size_t span) {
  rate r;
  if (!s || s->n < 2) return r;
  const auto k = std::min(span, s->n - 1);
  const auto& a = s->back(k);
  const auto& b = s->back(0);
  const double dt = b.t - a.t;
  if (dt <= 0) return r;
  r.requests = static_cast<double>(b.requests - a.requests) / dt;
  r.errors = static_cast<double>(b.errors - a.errors) / dt;
  r.connections = static_cast<double>(b.connections - a.connections) / dt;
  r.known = true;
  return r;
}

json stats_history::render(const runtime::snapshot& snap, const control_facts& facts, double unix_now) const {
  const auto now = upstream::ticks(upstream::clock::now());
  json j;
  j["time"] = rfc3339_utc(static_cast<std::int64_t>(unix_to_ms(unix_now)));
  j["build"] = {{"version", lb::version}, {"revision", lb::git_revision}, {"build_type", lb::build_type}};
  j["started_at"] = rfc3339_utc(static_cast<std::int64_t>(unix_to_ms(facts.started_unix)));
  j["uptime_seconds"] = round3(unix_now - facts.started_unix);
  j["workers"] = facts.workers;
  j["pid"] = facts.pid;
  j["upgrades"] = {{"succeeded", facts.upgrades_succeeded},
                   {"failed", facts.upgrades_failed},
                   {"refused", facts.upgrades_refused}};
  j["config"] = {{"version", snap.version}, {"loaded_at", rfc3339_utc(snap.loaded_at_unix_ms)}, {"source", snap.cfg->source}};
  const auto& last = facts.last_reload;
  j["reloads"] = {{"success", facts.reloads_success},
                  {"failure", facts.reloads_failure},
                  {"last", {{"result", last.ok ? "success" : "failure"},
                            {"at", rfc3339_utc(static_cast<std::int64_t>(unix_to_ms(last.at_unix)))},
                            {"trigger", last.trigger},
                            {"errors", last.errors}}},
                  {"file_changed_at", facts.file_changed_unix > 0
                                          ? json(rfc3339_utc(static_cast<std::int64_t>(unix_to_ms(facts.file_changed_unix))))
                                          : json(nullptr)}};
  j["sample_period_seconds"] = period.count();
  j["rate_window_seconds"] = period.count() * static_cast<long>(rate_span);

  json listeners = json::array();
  json routes = json::array();
  for (const auto& ls : snap.listeners) {
    const auto& w = ls.live->stats;
    std::int64_t active = 0;
    for (unsigned i = 0; i < w.size(); ++i) active += w[i].active.get();
    const auto* s = find(ls.live.get());
    const auto r = rate_of(s, rate_span);
    json l;
    l["name"] = ls.cfg->name;
    l["listen"] = ls.cfg->listen.str();
    l["connections_active"] = active;
    l["connections_max"] = ls.cfg->limits.max_connections;
    l["connections_total"] = s ? s->back(0).connections : 0;
    l["requests_total"] = s ? s->back(0).requests : 0;
    l["connection_rate"] = maybe(round3(r.connections), r.known);
    l["request_rate"] = maybe(round3(r.requests), r.known);
    l["error_ratio"] = maybe(r.requests > 0 ? round3(r.errors / r.requests) : 0.0, r.known);
    listeners.push_back(std::move(l));

    for (std::size_t i = 0; i < ls.route_stats.size() && i < ls.cfg->routes.size(); ++i) {
      const auto& rl = ls.route_stats[i];
      const auto* rs = find(rl.get());
      const auto rr = rate_of(rs, rate_span);
      bucket_totals window;
      if (auto it = hists_.find(rl.get()); it != hists_.end() && it->second.n >= 2) {
        const auto& newest = it->second.back(0);
        const auto& oldest = it->second.back(it->second.n - 1);
        window.bounds = newest.bounds;
        for (std::size_t b = 0; b <= newest.bounds->n; ++b) window.counts[b] = newest.counts[b] - oldest.counts[b];
      }
      const double p50 = quantile(window, 0.5), p99 = quantile(window, 0.99);
      json r;
      r["listener"] = ls.cfg->name;
      r["name"] = ls.cfg->routes[i].name;
      r["pool"] = ls.cfg->routes[i].pool;
      r["requests_total"] = rs ? rs->back(0).requests : 0;
      r["request_rate"] = maybe(round3(rr.requests), rr.known);
      r["error_ratio"] = maybe(rr.requests > 0 ? round3(rr.errors / rr.requests) : 0.0, rr.known);
      // Over the rate window; null when nothing was answered in it.
      r["p50_seconds"] = p50 >= 0 ? json(p50) : json(nullptr);
      r["p99_seconds"] = p99 >= 0 ? json(p99) : json(nullptr);
      routes.push_back(std::move(r));
    }
  }

  json pools = json::array();
  for (const auto& ps : snap.pools) {
    json endpoints = json::array();
    std::size_t usable = 0;
    double pool_rate = 0;
    for (std::size_t e = 0; e < ps.live.size(); ++e) {
      const auto& ep = ps.live[e];
      usable += ep->usable(now) ? 1 : 0;
      json x = endpoint_state(ps, e, now);
      const auto* s = find(ep.get());
      const auto r = rate_of(s, rate_span);
      pool_rate += r.requests;
      x["usable"] = ep->usable(now);
      x["requests_total"] = s ? s->back(0).requests : 0;
      x["request_rate"] = maybe(round3(r.requests), r.known);
      x["error_rate"] = maybe(round3(r.errors), r.known);
      // Per-interval rates, oldest first: the sparkline.
      json hr = json::array(), he = json::array();
      for (std::size_t k = s ? s->n - 1 : 0; s && k >= 1; --k) {
        const auto& a = s->back(k);
        const auto& b = s->back(k - 1);
        const double dt = b.t - a.t;
        hr.push_back(dt > 0 ? round3(static_cast<double>(b.requests - a.requests) / dt) : 0.0);
        he.push_back(dt > 0 ? round3(static_cast<double>(b.errors - a.errors) / dt) : 0.0);
      }
      x["history"] = {{"requests", std::move(hr)}, {"errors", std::move(he)}};
      endpoints.push_back(std::move(x));
    }
    json p;
    p["name"] = ps.cfg->name;
    p["balancer"] = config::balancer_name(ps.cfg->balancer);
    if (ps.cfg->health_check) {
      const auto& h = *ps.cfg->health_check;
      p["health_check"] = {{"type", h.type == config::health_check::kind::http ? "http" : "tcp"},
                           {"interval", config::format_duration(h.interval)}};
    } else {
      p["health_check"] = nullptr;
    }
    p["endpoints_total"] = ps.live.size();
    p["endpoints_usable"] = usable;
    p["request_rate"] = round3(pool_rate);
    p["endpoints"] = std::move(endpoints);
    pools.push_back(std::move(p));
  }
  j["listeners"] = std::move(listeners);
  j["routes"] = std::move(routes);
  j["pools"] = std::move(pools);
  return j;
}

}  // namespace lb::admin
