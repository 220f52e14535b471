#pragma once
// Live state shared by all workers and the control thread, one object per
// named thing (endpoint, pool, route, listener). Objects are found by name in
// the `live_registry` when a snapshot is built, so a reload keeps an
// endpoint's health, ejection and counters when the endpoint stays.
//
// Who writes what (STYLE §3): the control thread writes health and DNS-driven
// fields; workers write in-flight counts, connection counts, failure streaks
// and ejections with relaxed atomics; per-worker stats have one writer each.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <vector>

#include "lb/balancer/table_cache.h"
#include "lb/listener/client_table.h"
#include "lb/metrics/counters.h"

namespace lb::upstream {

using clock = std::chrono::steady_clock;

inline std::int64_t ticks(clock::time_point t) { return t.time_since_epoch().count(); }

struct endpoint_worker_stats {
  metrics::status_counters responses;   // by upstream status; 0 = no response
  metrics::local_counter connect_failures;
  metrics::local_counter tcp_bytes[2];  // TCP flows: [0] received from the endpoint, [1] sent to it
};

class endpoint_live {
 public:
  endpoint_live(std::string pool_name, std::string addr, unsigned workers)
      : pool(std::move(pool_name)), address(std::move(addr)), stats(workers) {
    ready_since.store(ticks(clock::now()), std::memory_order_relaxed);
  }

  const std::string pool;
  const std::string address;  // "host:port" as configured: the metric label

  // Written by the control thread (active checks), read on every pick.
  std::atomic<bool> healthy{true};
  std::atomic<std::int64_t> ready_since{0};  // when it last became usable: slow start ramps from here

  // Written by workers (passive outlier detection), read on every pick.
  std::atomic<std::int64_t> ejected_until{0};  // clock ticks; ejected while in the future
  std::atomic<std::uint32_t> ejections{0};     // times ejected: the next ejection lasts longer
  std::atomic<std::uint32_t> consecutive_failures{0};

  // Load, written per request by whichever worker serves it.
  alignas(64) std::atomic<std::uint32_t> in_flight{0};
  std::atomic<std::uint32_t> connections{0};  // open upstream connections, all workers

  metrics::per_worker<endpoint_worker_stats> stats;

  // The last active check, for /pools and the status page. Control thread
  // only (the checker writes, the admin views read); workers never touch it.
  struct check_result {
    bool done = false;  // no check has finished yet
    bool ok = false;
    std::string reason;  // "status 200", "connect refused", "timeout", ...
    std::int64_t at_unix_ms = 0;
  };
  check_result last_check;

  bool ejected(std::int64_t now) const { return ejected_until.load(std::memory_order_relaxed) > now; }
  // Passes its checks and is not ejected: may take requests (capacity aside).
  bool usable(std::int64_t now) const { return healthy.load(std::memory_order_relaxed) && !ejected(now); }
};

// Upstream TLS handshakes by outcome (lb_upstream_tls_handshakes_total).
enum class tls_outcome : std::uint8_t { full, resumed, verify_failed, failed, count };
inline constexpr const char* tls_outcome_names[] = {"full", "resumed", "verify_failed", "failed"};

struct pool_worker_stats {
  metrics::local_counter retries;
  metrics::local_counter tls_handshakes[static_cast<std::size_t>(tls_outcome::count)];
  metrics::histogram response_duration;  // request sent -> response head received
};

class pool_live {
 public:
  pool_live(std::string n, unsigned workers) : name(std::move(n)), stats(workers) {}
  const std::string name;
  metrics::per_worker<pool_worker_stats> stats;
};

// Which of a route's `client_limits` refused a request
// (lb_route_client_limited_total's `limit`).
enum class route_limit : std::uint8_t { request_rate, concurrent_requests, count };
inline constexpr const char* route_limit_names[] = {"request_rate", "concurrent_requests"};

struct route_worker_stats {
  metrics::status_counters responses;     // status sent to the client, HTTP/1.x
  metrics::status_counters responses_h2;  // the same, HTTP/2
  metrics::histogram duration;         // request head received -> response sent
  metrics::local_counter client_limited[static_cast<std::size_t>(route_limit::count)];
};

class route_live {
 public:
  route_live(std::string l, std::string r, unsigned workers, std::shared_ptr<const metrics::bucket_bounds> b)
      : listener(std::move(l)), route(std::move(r)), buckets(std::move(b)), stats(workers), clients(workers) {
    for (unsigned w = 0; w < stats.size(); ++w) stats[w].duration.use(buckets.get());
  }
  const std::string listener;
  const std::string route;
  const std::shared_ptr<const metrics::bucket_bounds> buckets;  // of `duration`, fixed for this object's life
  metrics::per_worker<route_worker_stats> stats;
  // The route's `client_limits:` state, each worker's its own (no locks).
  metrics::per_worker<listener::client_limiter> clients;
};

// Why a TLS handshake failed, as lb_tls_handshake_failures_total's `reason`.
enum class tls_failure : std::uint8_t { timeout, closed, version, cipher, sni, protocol, client_cert, count };
inline constexpr const char* tls_failure_names[] = {"timeout", "closed",   "version",    "cipher",
                                                    "sni",     "protocol", "client_cert"};

// Why a client's certificate failed a handshake on an mTLS listener, as
// lb_tls_client_cert_failures_total's `reason`.
enum class client_cert_failure : std::uint8_t { missing, untrusted, revoked, expired, crl, invalid, count };
inline constexpr const char* client_cert_failure_names[] = {"missing", "untrusted", "revoked",
                                                            "expired", "crl",       "invalid"};

// How a TCP session ended, as lb_tcp_sessions_total's `ended` and the access
// log's `reason`.
enum class tcp_end : std::uint8_t {
  closed,              // both sides finished (FIN both ways)
  client_reset,        // the client reset (or failed): the upstream got an RST
  upstream_reset,      // the upstream reset: the client got an RST
  idle_timeout,        // no byte either way for idle_timeout
  half_close_timeout,  // one side finished, the other did not within half_close_timeout
  drained,             // drain_timeout passed while draining (SIGTERM, listener removed)
  no_endpoint,         // no healthy endpoint to connect to
  connect_failed,      // every attempt failed or timed out
  proxy_refused,       // a PROXY header from a peer not trusted to send one
  peek_timeout,        // SNI listeners: no whole ClientHello within peek_timeout
  not_tls,             // SNI listeners: the first bytes are not TLS (and `non_tls: close`)
  bad_client_hello,    // SNI listeners: a malformed or over-long ClientHello, or closed before its end
  no_route,            // SNI listeners: no route matched and there is no default pool
  count
};
inline constexpr const char* tcp_end_names[] = {
    "closed",       "client_reset", "upstream_reset",   "idle_timeout", "half_close_timeout", "drained",
    "no_endpoint",  "connect_failed", "proxy_refused",  "peek_timeout", "not_tls",            "bad_client_hello",
    "no_route"};

// Why accept() failed (lb_accept_errors_total): out of descriptors (EMFILE,
// ENFILE), out of kernel memory (ENOBUFS, ENOMEM), anything else.
enum class accept_error : std::uint8_t { fd_limit, memory, other, count };
inline constexpr const char* accept_error_names[] = {"fd_limit", "memory", "other"};

// Why a PROXY header read from a trusted peer failed (lb_proxy_protocol_failures_total).
enum class proxy_failure : std::uint8_t { malformed, timeout, closed, count };
inline constexpr const char* proxy_failure_names[] = {"malformed", "timeout", "closed"};

// Which per-client limit refused (lb_client_limited_total's `limit`).
enum class client_limit : std::uint8_t { connections, connection_rate, request_rate, count };
inline constexpr const char* client_limit_names[] = {"connections", "connection_rate", "request_rate"};

struct listener_worker_stats {
  metrics::local_gauge active;
  metrics::local_counter total;
  metrics::status_counters unrouted;  // answers given before a route matched (400, 404, 408, 431, ...)
  metrics::status_counters unrouted_h2;  // the same, to HTTP/2 clients
  // HTTP/2 connections ended for abuse, by limit (proto::h2::abuse).
  metrics::local_counter h2_abuse[5];
  // Completed TLS handshakes by [version: 0 = 1.2, 1 = 1.3][resumed].
  metrics::local_counter tls_handshakes[2][2];
  metrics::local_counter tls_failures[static_cast<std::size_t>(tls_failure::count)];
  metrics::local_counter client_cert_failures[static_cast<std::size_t>(client_cert_failure::count)];
  // Client certificate refusals are logged at most once a second per worker
  // and listener (a scanner must not flood the log); the rest are counted
  // and summed into the next line. Owning worker only.
  std::int64_t cert_log_second = 0;
  std::uint32_t cert_log_suppressed = 0;  // TCP listeners: bytes [0] received from clients, [1] sent to them; open
  // sessions; ended sessions by how.
  metrics::local_counter tcp_bytes[2];
  metrics::local_gauge tcp_active;
  metrics::local_counter tcp_ended[static_cast<std::size_t>(tcp_end::count)];
  metrics::local_counter proxy_failures[static_cast<std::size_t>(proxy_failure::count)];
  metrics::local_counter accept_errors[static_cast<std::size_t>(accept_error::count)];
  metrics::local_counter client_limited[static_cast<std::size_t>(client_limit::count)];
  // Connections admitted untracked: every entry of the client table held open connections.
  metrics::local_counter client_untracked;
};

class listener_live {
 public:
  listener_live(std::string n, unsigned workers) : name(std::move(n)), stats(workers), clients(workers) {}
  const std::string name;
  std::atomic<std::uint64_t> open{0};  // open client connections, all workers (max_connections)
  metrics::per_worker<listener_worker_stats> stats;
  // `client_limits:` state, each worker's its own (never shared, no locks).
  metrics::per_worker<listener::client_limiter> clients;
};

// Thread: control. Hands out the live object for a name, the same one across
// reloads while the name stays configured.
class live_registry {
 public:
  explicit live_registry(unsigned workers) : workers_(workers) {}

  std::shared_ptr<endpoint_live> endpoint(const std::string& pool, const std::string& address) {
    return get(endpoints_, pool + '\n' + address, [&] { return std::make_shared<endpoint_live>(pool, address, workers_); });
  }
  std::shared_ptr<pool_live> pool(const std::string& name) {
    return get(pools_, name, [&] { return std::make_shared<pool_live>(name, workers_); });
  }
  // New bucket bounds start the route's counters afresh (a histogram's
  // buckets cannot change under its counts); equal bounds keep them.
  std::shared_ptr<route_live> route(const std::string& listener, const std::string& route,
                                    const metrics::bucket_bounds& buckets = metrics::bucket_bounds::defaults()) {
    auto& slot = routes_[listener + '\n' + route];
    if (slot && !(*slot->buckets == buckets)) slot.reset();
    return get(routes_, listener + '\n' + route, [&] {
      return std::make_shared<route_live>(listener, route, workers_, std::make_shared<const metrics::bucket_bounds>(buckets));
    });
  }
  std::shared_ptr<listener_live> listener(const std::string& name) {
    return get(listeners_, name, [&] { return std::make_shared<listener_live>(name, workers_); });
  }
  // Pools' balancer tables, kept across builds while their endpoints are the same.
  balancer::table_cache& balancers() { return balancers_; }

  // Thread: control. A build starts here: what it asks for from now on is
  // what retain_only_used() keeps (a build that failed, or changed nothing,
  // leaves no marks behind).
  void start_build() { used_.clear(); }

  // Forget what the newest snapshot no longer names (objects live on while an
  // older snapshot still holds them). Call after a successful build.
  void retain_only_used() {
    balancers_.retain_only_used();
    prune(endpoints_);
    prune(pools_);
    prune(routes_);
    prune(listeners_);
    used_.clear();
  }
  // After a snapshot that rebuilt these pools alone (runtime::republish_pools):
  // forget their endpoints it no longer names. Everything else it shares with
  // the previous snapshot, balancer tables included, stays.
  void retain_only_used(const std::vector<std::string>& rebuilt_pools) {
    for (const auto& pool : rebuilt_pools) {
      const auto prefix = pool + '\n';
      for (auto it = endpoints_.lower_bound(prefix); it != endpoints_.end() && it->first.starts_with(prefix);) {
        if (!used_.count(it->second.get())) it = endpoints_.erase(it);
        else ++it;
      }
    }
    used_.clear();
  }


 private:
  template <class T, class Make>
  std::shared_ptr<T> get(std::map<std::string, std::shared_ptr<T>>& m, const std::string& key, Make make) {
    auto& slot = m[key];
    if (!slot) slot = make();
    used_.insert(slot.get());
    return slot;
  }
  template <class T>
  void prune(std::map<std::string, std::shared_ptr<T>>& m) {
    for (auto it = m.begin(); it != m.end();) {
      if (!used_.count(it->second.get())) it = m.erase(it);
      else ++it;
    }
  }

  unsigned workers_;
  std::set<const void*> used_;  // handed out since the last retain_only_used()
  std::map<std::string, std::shared_ptr<endpoint_live>> endpoints_;
  std::map<std::string, std::shared_ptr<pool_live>> pools_;
  std::map<std::string, std::shared_ptr<route_live>> routes_;
  std::map<std::string, std::shared_ptr<listener_live>> listeners_;
  balancer::table_cache balancers_;
};

}  // namespace lb::upstream
