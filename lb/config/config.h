#pragma once
// The validated configuration model: what `config::load_file` produces from YAML.
// Plain data, immutable once loaded; the data plane compiles it further
// (router tables, balancers) when it builds a snapshot.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace lb::config {

using duration = std::chrono::milliseconds;

// A `host:port` or `[v6]:port` as written. `host` has no brackets. A literal
// IP leaves `is_hostname` false; otherwise the control thread resolves it.
struct address {
  std::string host;
  std::uint16_t port = 0;
  bool is_hostname = false;

  std::string str() const;  // back to `host:port` / `[v6]:port`
};

struct endpoint {
  address addr;
  std::uint32_t weight = 1;  // 1..1000
};

struct keepalive {
  std::uint32_t max_idle = 64;  // idle upstream connections per endpoint, per worker
  duration idle_timeout = std::chrono::seconds(60);
};

enum class balancer_kind { round_robin };

struct pool {
  std::string name;
  balancer_kind balancer = balancer_kind::round_robin;
  std::vector<endpoint> endpoints;  // at least one
  duration connect_timeout = std::chrono::seconds(2);
  // Qualified: a member named like its type otherwise "changes meaning" (g++ error).
  ::lb::config::keepalive keepalive;
};

// Host match forms: `api.example.com` (exact, case-insensitive), `*.example.com`
// (suffix), `www.example.*` (prefix), `~regex` (RE2, full match). Empty = any.
struct host_match {
  enum class kind { any, exact, suffix, prefix, regex };
  kind type = kind::any;
  std::string value;  // lower-cased; for suffix ".example.com", for prefix "www.example."
};

struct path_match {
  enum class kind { prefix, exact, regex };
  kind type = kind::prefix;
  std::string value = "/";  // for regex: the RE2 pattern, full match on the path
};

struct route {
  std::string name;  // defaults to "route<N>" (0-based index within the listener)
  host_match host;
  path_match path;
  std::vector<std::pair<std::string, std::string>> headers;  // name lower-cased; exact value
  std::string pool;
  std::size_t pool_index = 0;  // index into config::pools, set by the loader
  duration timeout = std::chrono::seconds(30);  // upstream response (head) timeout
  std::vector<std::pair<std::string, std::string>> set_headers;  // added/replaced upstream
};

struct limits {
  std::uint64_t max_connections = 100000;  // per listener, across all workers
  duration header_timeout = std::chrono::seconds(10);
  duration idle_timeout = std::chrono::seconds(60);
  std::uint32_t max_header_bytes = 16384;
  std::uint64_t max_body_bytes = 0;  // 0 = unlimited (streamed)
};

enum class protocol { http };

struct listener {
  std::string name;
  address listen;  // always a literal IP (hostnames are refused)
  protocol proto = protocol::http;
  ::lb::config::limits limits;
  std::vector<route> routes;  // first match wins
};

struct admin {
  std::optional<address> listen;  // absent = no admin server
};

struct config {
  std::string source;          // file the config was read from
  unsigned workers = 0;        // 0 = auto (one per core)
  duration drain_timeout = std::chrono::seconds(30);
  ::lb::config::admin admin;
  std::vector<listener> listeners;  // at least one
  std::vector<pool> pools;
};

}  // namespace lb::config
