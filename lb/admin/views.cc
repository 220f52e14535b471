#include "lb/admin/views.h"

#include "lb/upstream/selection.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <sstream>
#include <utility>
#include <vector>

#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include "lb/admin/endpoint_state.h"
#include "lb/admin/sums.h"
#include "lb/config/parse.h"
#include "lb/runtime/memory.h"

namespace lb::admin {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// ---- metrics ----------------------------------------------------------------

MetricFamily family(std::string name, std::string help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

// Labels sorted by name, as prometheus-cpp's Registry would emit them.
ClientMetric sample(std::vector<ClientMetric::Label> labels) {
  ClientMetric m;
  std::sort(labels.begin(), labels.end());
  m.label = std::move(labels);
  return m;
}

void add_counter(MetricFamily& f, std::vector<ClientMetric::Label> labels, double v) {
  auto m = sample(std::move(labels));
  m.counter.value = v;
  f.metric.push_back(std::move(m));
}

void add_gauge(MetricFamily& f, std::vector<ClientMetric::Label> labels, double v) {
  auto m = sample(std::move(labels));
  m.gauge.value = v;
  f.metric.push_back(std::move(m));
}

// Sums one histogram per worker; buckets become cumulative, as Prometheus wants.
template <class Slots, class Get>
ClientMetric::Histogram sum_histogram(const Slots& slots, Get get) {
  const auto h = sum_buckets(slots, get);
  ClientMetric::Histogram out;
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < h.bounds->n; ++i) {
    cumulative += h.counts[i];
    out.bucket.push_back({cumulative, h.bounds->v[i]});
  }
  cumulative += h.counts[h.bounds->n];
  // The serializer adds le="+Inf" with sample_count.
  out.sample_count = cumulative;
  out.sample_sum = h.sum;
  return out;
}

void add_histogram(MetricFamily& f, std::vector<ClientMetric::Label> labels, ClientMetric::Histogram h) {
  auto m = sample(std::move(labels));
  m.histogram = std::move(h);
  f.metric.push_back(std::move(m));
}

// Per-worker counters summed: `get(stats)` of every worker's slot.
template <class Slots, class Get>
double sum_workers(const Slots& slots, Get get) {
  std::uint64_t n = 0;
  for (unsigned w = 0; w < slots.size(); ++w) n += get(slots[w]).get();
  return static_cast<double>(n);
}

// lb_tcp_*, lb_upstream_tcp_bytes_total and lb_proxy_protocol_failures_total:
// families only for what the config has (TCP listeners, PROXY readers).
std::vector<MetricFamily> tcp_families(const runtime::snapshot& snap) {
  auto bytes = family("lb_tcp_bytes_total",
                      "Bytes of TCP sessions per listener: rx received from clients, tx sent to them.",
                      MetricType::Counter);
  auto sessions = family("lb_tcp_sessions_total",
                         "Ended TCP sessions per listener, by how they ended (closed, client_reset, upstream_reset, "
                         "idle_timeout, half_close_timeout, drained, no_endpoint, connect_failed, proxy_refused).",
                         MetricType::Counter);
  auto active = family("lb_tcp_sessions_active", "Open TCP sessions per listener.", MetricType::Gauge);
  auto up_bytes = family("lb_upstream_tcp_bytes_total",
                         "Bytes of TCP sessions per endpoint: rx received from the endpoint, tx sent to it.",
                         MetricType::Counter);
  auto proxy = family("lb_proxy_protocol_failures_total",
                      "PROXY headers from trusted peers that failed per listener, by reason (malformed, timeout, "
                      "closed); the connection was dropped.",
                      MetricType::Counter);
  std::vector<bool> tcp_pool(snap.pools.size());
  for (const auto& ls : snap.listeners) {
    const auto& l = *ls.cfg;
    const auto& st = ls.live->stats;
    if (l.accept_proxy) {
      for (std::size_t r = 0; r < static_cast<std::size_t>(upstream::proxy_failure::count); ++r)
        add_counter(proxy, {{"listener", l.name}, {"reason", upstream::proxy_failure_names[r]}},
                    sum_workers(st, [r](const auto& s) -> const auto& { return s.proxy_failures[r]; }));
    }
    if (l.proto != config::protocol::tcp) continue;
    if (l.pool_index < tcp_pool.size()) tcp_pool[l.pool_index] = true;
    for (int d = 0; d < 2; ++d)
      add_counter(bytes, {{"listener", l.name}, {"direction", d == 0 ? "rx" : "tx"}},
                  sum_workers(st, [d](const auto& s) -> const auto& { return s.tcp_bytes[d]; }));
    for (std::size_t e = 0; e < static_cast<std::size_t>(upstream::tcp_end::count); ++e)
      add_counter(sessions, {{"listener", l.name}, {"ended", upstream::tcp_end_names[e]}},
                  sum_workers(st, [e](const auto& s) -> const auto& { return s.tcp_ended[e]; }));
    std::int64_t open = 0;
    for (unsigned w = 0; w < st.size(); ++w) open += st[w].tcp_active.get();
    add_gauge(active, {{"listener", l.name}}, static_cast<double>(open));
  }
  for (std::size_t p = 0; p < snap.pools.size(); ++p) {
    if (!tcp_pool[p]) continue;
    const auto& ps = snap.pools[p];
    for (std::size_t e = 0; e < ps.live.size() && e < ps.labels.size(); ++e)
      for (int d = 0; d < 2; ++d)
        add_counter(up_bytes, {{"pool", ps.cfg->name}, {"endpoint", ps.labels[e]}, {"direction", d == 0 ? "rx" : "tx"}},
                    sum_workers(ps.live[e]->stats, [d](const auto& s) -> const auto& { return s.tcp_bytes[d]; }));
  }
  std::vector<MetricFamily> out;
  for (auto* f : {&bytes, &sessions, &active, &up_bytes, &proxy})
    if (!f->metric.empty()) out.push_back(std::move(*f));
  return out;
}

// lb_client_limited_total and lb_client_untracked_total: listeners with client_limits only.
// Process-wide, not per listener: an allocation can fail in the event loop
// itself, outside any connection; memory_high is one limit for all.
std::vector<MetricFamily> memory_families() {
  namespace memory = runtime::memory;
  auto errors = family("lb_memory_errors_total",
                       "Allocation failures lb contained, by where they happened (accept, stage: PROXY/TLS/"
                       "protocol sniffing, http1, h2, tcp, worker: escaped into a worker's event loop); each "
                       "ended one connection (or one handler), never the worker.",
                       MetricType::Counter);
  for (std::size_t p = 0; p < static_cast<std::size_t>(memory::plane::count); ++p)
    add_counter(errors, {{"plane", memory::plane_names[p]}},
                static_cast<double>(memory::failures(static_cast<memory::plane>(p))));
  auto overloaded = family("lb_memory_overloaded",
                           "1 while resident memory is over limits.memory_high (accepts paused, idle connections "
                           "closed) until it drops below 90% of it.",
                           MetricType::Gauge);
  add_gauge(overloaded, {}, memory::overloaded() ? 1 : 0);
  auto episodes = family("lb_memory_overload_total", "Times resident memory went over limits.memory_high.",
                         MetricType::Counter);
  add_counter(episodes, {}, static_cast<double>(memory::overload_episodes()));
  auto resident = family("lb_memory_resident_bytes",
                         "Resident memory at the last memory_high sample (once a second; 0 when memory_high is off).",
                         MetricType::Gauge);
  add_gauge(resident, {}, static_cast<double>(memory::resident_bytes()));
  std::vector<MetricFamily> out;
  for (auto* f : {&errors, &overloaded, &episodes, &resident}) out.push_back(std::move(*f));
  return out;
}

std::vector<MetricFamily> client_limit_families(const runtime::snapshot& snap) {
  auto limited = family("lb_client_limited_total",
                        "Connections (connections, connection_rate) and requests (request_rate) refused per "
                        "listener by its per-client limits.",
                        MetricType::Counter);
  auto untracked = family("lb_client_untracked_total",
                          "Connections admitted without per-client limits per listener because every entry of "
                          "the worker's client table held open connections (raise client_limits.table_size).",
                          MetricType::Counter);
  for (const auto& ls : snap.listeners) {
    if (!ls.cfg->client_limits) continue;
    for (std::size_t k = 0; k < static_cast<std::size_t>(upstream::client_limit::count); ++k)
      add_counter(limited, {{"listener", ls.cfg->name}, {"limit", upstream::client_limit_names[k]}},
                  sum_workers(ls.live->stats, [k](const auto& s) -> const auto& { return s.client_limited[k]; }));
    add_counter(untracked, {{"listener", ls.cfg->name}},
                sum_workers(ls.live->stats, [](const auto& s) -> const auto& { return s.client_untracked; }));
  }
  // Routes with client_limits: lb_route_client_limited_total.
  auto route_limited = family("lb_route_client_limited_total",
                              "Requests refused per route by its per-client limits (request_rate, "
                              "concurrent_requests).",
                              MetricType::Counter);
  for (const auto& ls : snap.listeners) {
    for (std::size_t r = 0; r < ls.cfg->routes.size(); ++r) {
      if (!ls.cfg->routes[r].client_limits) continue;
      const auto& live = *ls.route_stats[r];
      for (std::size_t k = 0; k < static_cast<std::size_t>(upstream::route_limit::count); ++k)
        add_counter(route_limited,
                    {{"listener", ls.cfg->name}, {"route", ls.cfg->routes[r].name},
                     {"limit", upstream::route_limit_names[k]}},
                    sum_workers(live.stats, [k](const auto& s) -> const auto& { return s.client_limited[k]; }));
    }
  }
  std::vector<MetricFamily> out;
  for (auto* f : {&limited, &untracked, &route_limited})
    if (!f->metric.empty()) out.push_back(std::move(*f));
  return out;
}

}  // namespace

std::string render_metrics(const runtime::snapshot& snap, const control_facts& facts, std::string_view version) {
  const auto now = upstream::ticks(upstream::clock::now());
  std::vector<MetricFamily> out;

  auto build = family("lb_build_info", "Build information; the value is always 1.", MetricType::Gauge);
  add_gauge(build, {{"version", std::string(version)}}, 1);
  out.push_back(std::move(build));

  // ---- downstream (listeners, routes) ----
  auto conn_active = family("lb_downstream_connections_active", "Open client connections per listener.",
                            MetricType::Gauge);
  auto conn_max = family("lb_downstream_connections_max",
                         "Configured limits.max_connections per listener (all workers).", MetricType::Gauge);
  auto conn_total = family("lb_downstream_connections_total", "Client connections accepted per listener.",
                           MetricType::Counter);
  auto accept_errors = family("lb_accept_errors_total",
                               "Failed accept() calls per listener, by reason (fd_limit: EMFILE/ENFILE, memory: "
                               "ENOBUFS/ENOMEM, other); each pauses that worker's accepts for 100 ms.",
                               MetricType::Counter);
  auto requests = family("lb_http_requests_total",
                         "HTTP responses sent to clients by listener, route, status code and protocol (http/1.1, h2). route=\"\" counts "
                         "requests answered before a route matched (400, 404, 408, 431, ...).",
                         MetricType::Counter);
  auto h2_abuse = family("lb_http2_abuse_total",
                         "HTTP/2 connections ended with GOAWAY ENHANCE_YOUR_CALM per listener, by the limit broken.",
                         MetricType::Counter);
  auto duration = family("lb_http_request_duration_seconds",
                         "Time from the request head received to the response sent, per listener and route.",
                         MetricType::Histogram);
  auto tls_handshakes = family("lb_tls_handshakes_total",
                               "Completed TLS handshakes per listener, by protocol version and whether the "
                               "session was resumed.",
                               MetricType::Counter);
  auto tls_failures = family("lb_tls_handshake_failures_total",
                             "TLS handshakes that failed per listener, by reason (timeout, closed, version, "
                             "cipher, sni, protocol, client_cert).",
                             MetricType::Counter);
  auto cert_failures = family("lb_tls_client_cert_failures_total",
                              "TLS handshakes refused because of the client's certificate, per listener with "
                              "client certificates on, by reason (missing, untrusted, revoked, expired, crl, invalid).",
                              MetricType::Counter);
  for (const auto& ls : snap.listeners) {
    const std::string& lname = ls.cfg->name;
    const auto& wstats = ls.live->stats;
    if (ls.cfg->tls) {
      static constexpr const char* versions[] = {"1.2", "1.3"};
      for (int v = 0; v < 2; ++v)
        for (int resumed = 0; resumed < 2; ++resumed) {
          std::uint64_t n = 0;
          for (unsigned w = 0; w < wstats.size(); ++w) n += wstats[w].tls_handshakes[v][resumed].get();
          add_counter(tls_handshakes,
                      {{"listener", lname}, {"version", versions[v]}, {"resumed", resumed ? "true" : "false"}},
                      static_cast<double>(n));
        }
      for (std::size_t r = 0; r < static_cast<std::size_t>(upstream::tls_failure::count); ++r) {
        std::uint64_t n = 0;
        for (unsigned w = 0; w < wstats.size(); ++w) n += wstats[w].tls_failures[r].get();
        add_counter(tls_failures, {{"listener", lname}, {"reason", upstream::tls_failure_names[r]}},
                    static_cast<double>(n));
      }
      if (ls.cfg->tls->verify != config::client_verify::off)
        for (std::size_t r = 0; r < static_cast<std::size_t>(upstream::client_cert_failure::count); ++r) {
          std::uint64_t n = 0;
          for (unsigned w = 0; w < wstats.size(); ++w) n += wstats[w].client_cert_failures[r].get();
          add_counter(cert_failures, {{"listener", lname}, {"reason", upstream::client_cert_failure_names[r]}},
                      static_cast<double>(n));
        }
    }
    std::int64_t active = 0;
    std::uint64_t total = 0;
    for (unsigned w = 0; w < wstats.size(); ++w) {
      active += wstats[w].active.get();
      total += wstats[w].total.get();
    }
    add_gauge(conn_active, {{"listener", lname}}, static_cast<double>(active));
    add_gauge(conn_max, {{"listener", lname}}, static_cast<double>(ls.cfg->limits.max_connections));
    add_counter(conn_total, {{"listener", lname}}, static_cast<double>(total));
    for (std::size_t r = 0; r < static_cast<std::size_t>(upstream::accept_error::count); ++r)
      add_counter(accept_errors, {{"listener", lname}, {"reason", upstream::accept_error_names[r]}},
                  sum_workers(wstats, [r](const auto& s) -> const auto& { return s.accept_errors[r]; }));

    for (std::size_t r = 0; r < ls.route_stats.size() && r < ls.cfg->routes.size(); ++r) {
      const std::string& rname = ls.cfg->routes[r].name;
      const auto& rstats = ls.route_stats[r]->stats;
      const auto by_slot = sum_status(rstats, [](const upstream::route_worker_stats& s) -> const auto& { return s.responses; });
      const auto by_slot_h2 =
          sum_status(rstats, [](const upstream::route_worker_stats& s) -> const auto& { return s.responses_h2; });
      for (std::size_t slot = 1; slot < by_slot.size(); ++slot) {
        if (by_slot[slot] != 0)
          add_counter(requests,
                      {{"listener", lname}, {"route", rname}, {"code", code_label(slot)}, {"protocol", "http/1.1"}},
                      static_cast<double>(by_slot[slot]));
        if (by_slot_h2[slot] != 0)
          add_counter(requests, {{"listener", lname}, {"route", rname}, {"code", code_label(slot)}, {"protocol", "h2"}},
                      static_cast<double>(by_slot_h2[slot]));
      }
      add_histogram(duration, {{"listener", lname}, {"route", rname}},
                    sum_histogram(rstats, [](const upstream::route_worker_stats& s) -> const auto& { return s.duration; }));
    }
    const auto unrouted = sum_status(wstats, [](const upstream::listener_worker_stats& s) -> const auto& { return s.unrouted; });
    const auto unrouted_h2 =
        sum_status(wstats, [](const upstream::listener_worker_stats& s) -> const auto& { return s.unrouted_h2; });
    for (std::size_t slot = 1; slot < unrouted.size(); ++slot) {
      if (unrouted[slot] != 0)
        add_counter(requests, {{"listener", lname}, {"route", ""}, {"code", code_label(slot)}, {"protocol", "http/1.1"}},
                    static_cast<double>(unrouted[slot]));
      if (unrouted_h2[slot] != 0)
        add_counter(requests, {{"listener", lname}, {"route", ""}, {"code", code_label(slot)}, {"protocol", "h2"}},
                    static_cast<double>(unrouted_h2[slot]));
    }
    if (ls.cfg->h2) {
      static constexpr const char* limits[] = {"rapid_reset", "control_frames", "slow_read", "header_block", "flood"};
      for (std::size_t i = 0; i < std::size(limits); ++i) {
        std::uint64_t n = 0;
        for (unsigned w = 0; w < wstats.size(); ++w) n += wstats[w].h2_abuse[i].get();
        add_counter(h2_abuse, {{"listener", lname}, {"limit", limits[i]}}, static_cast<double>(n));
      }
    }
  }

  // ---- upstream (pools, endpoints) ----
  auto up_requests = family("lb_upstream_requests_total",
                            "Upstream requests by pool, endpoint and upstream status code; code=\"0\" means no "
                            "response was received (connect failure, reset, timeout).",
                            MetricType::Counter);
  auto up_duration = family("lb_upstream_response_duration_seconds",
                            "Time from the request sent upstream to the response head received, per pool.",
                            MetricType::Histogram);
  auto up_conns = family("lb_upstream_connections_active", "Open upstream connections per endpoint, all workers.",
                         MetricType::Gauge);
  auto up_connect_failures = family("lb_upstream_connect_failures_total",
                                    "Failed upstream connection attempts per endpoint.", MetricType::Counter);
  auto up_healthy = family("lb_upstream_endpoint_healthy",
                           "1 when the endpoint is healthy and not ejected (eligible for picks), else 0.",
                           MetricType::Gauge);
  auto up_ejections = family("lb_upstream_ejections_total",
                             "Passive outlier ejections per endpoint.", MetricType::Counter);
  auto up_retries = family("lb_upstream_retries_total", "Requests retried on another endpoint, per pool.",
                           MetricType::Counter);
  auto up_tls = family("lb_upstream_tls_handshakes_total",
                        "Upstream TLS handshakes per pool by result: full, resumed, verify_failed (the endpoint's "
                        "certificate was refused), failed.",
                        MetricType::Counter);
  for (const auto& ps : snap.pools) {
    const std::string& pname = ps.cfg->name;
    if (ps.tls) {
      for (std::size_t k = 0; k < static_cast<std::size_t>(upstream::tls_outcome::count); ++k) {
        std::uint64_t n = 0;
        for (unsigned w = 0; w < ps.stats->stats.size(); ++w) n += ps.stats->stats[w].tls_handshakes[k].get();
        add_counter(up_tls, {{"pool", pname}, {"result", upstream::tls_outcome_names[k]}}, static_cast<double>(n));
      }
    }
    for (std::size_t e = 0; e < ps.live.size() && e < ps.labels.size(); ++e) {
      const auto& ep = *ps.live[e];
      const std::string& elabel = ps.labels[e];
      const auto by_slot = sum_status(ep.stats, [](const upstream::endpoint_worker_stats& s) -> const auto& { return s.responses; });
      for (std::size_t slot = 0; slot < by_slot.size(); ++slot) {
        if (by_slot[slot] == 0) continue;
        add_counter(up_requests, {{"pool", pname}, {"endpoint", elabel}, {"code", code_label(slot)}},
                    static_cast<double>(by_slot[slot]));
      }
      std::uint64_t failures = 0;
      for (unsigned w = 0; w < ep.stats.size(); ++w) failures += ep.stats[w].connect_failures.get();
      add_gauge(up_conns, {{"pool", pname}, {"endpoint", elabel}},
                static_cast<double>(ep.connections.load(std::memory_order_relaxed)));
      add_counter(up_connect_failures, {{"pool", pname}, {"endpoint", elabel}}, static_cast<double>(failures));
      const bool usable = ep.usable(now);
      add_gauge(up_healthy, {{"pool", pname}, {"endpoint", elabel}}, usable ? 1 : 0);
      add_counter(up_ejections, {{"pool", pname}, {"endpoint", elabel}},
                  static_cast<double>(ep.ejections.load(std::memory_order_relaxed)));
    }
    std::uint64_t retries = 0;
    for (unsigned w = 0; w < ps.stats->stats.size(); ++w) retries += ps.stats->stats[w].retries.get();
    add_counter(up_retries, {{"pool", pname}}, static_cast<double>(retries));
    add_histogram(up_duration, {{"pool", pname}},
                  sum_histogram(ps.stats->stats,
                                [](const upstream::pool_worker_stats& s) -> const auto& { return s.response_duration; }));
  }

  // ---- config ----
  auto reloads = family("lb_config_reloads_total",
                        "Config loads by result; the startup load counts as the first success.", MetricType::Counter);
  add_counter(reloads, {{"result", "success"}}, static_cast<double>(facts.reloads_success));
  add_counter(reloads, {{"result", "failure"}}, static_cast<double>(facts.reloads_failure));
  auto upgrades = family("lb_upgrades_total",
                         "Binary upgrades by result: succeeded (counted by the new process, which took over), "
                         "failed and refused (counted by the process that kept serving).",
                         MetricType::Counter);
  add_counter(upgrades, {{"result", "succeeded"}}, static_cast<double>(facts.upgrades_succeeded));
  add_counter(upgrades, {{"result", "failed"}}, static_cast<double>(facts.upgrades_failed));
  add_counter(upgrades, {{"result", "refused"}}, static_cast<double>(facts.upgrades_refused));
  auto last_reload = family("lb_config_last_reload_success_timestamp_seconds",
                            "Unix time of the last successful config load.", MetricType::Gauge);
  add_gauge(last_reload, {}, facts.last_reload_success_unix);
  auto file_changed = family("lb_config_file_changed_timestamp_seconds",
                             "Unix time since when the config file holds bytes lb failed to load; 0 while the "
                             "running config is the file's.",
                             MetricType::Gauge);
  add_gauge(file_changed, {}, facts.file_changed_unix);

  for (auto* f : {&conn_active, &conn_max, &conn_total, &accept_errors, &requests, &h2_abuse, &duration, &tls_handshakes, &tls_failures,
                  &cert_failures,
                  &up_requests, &up_duration, &up_conns, &up_connect_failures, &up_healthy, &up_ejections,
                  &up_retries, &up_tls, &reloads, &upgrades, &last_reload, &file_changed}) {
    if (!f->metric.empty()) out.push_back(std::move(*f));
  }
  for (auto& f : tcp_families(snap)) out.push_back(std::move(f));
  for (auto& f : client_limit_families(snap)) out.push_back(std::move(f));
  for (auto& f : memory_families()) out.push_back(std::move(f));

  std::ostringstream os;
  prometheus::TextSerializer{}.Serialize(os, out);
  return os.str();
}

}  // namespace lb::admin
