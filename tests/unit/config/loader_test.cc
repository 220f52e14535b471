#include "lb/config/loader.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "lb/config/file_source.h"
#include "load_helpers.h"

namespace lb::config {
namespace {

using namespace std::chrono_literals;
using headers = std::vector<std::pair<std::string, std::string>>;

using test_support::errors_of;
using test_support::minimal;

// The shipped files, read the way lb reads them.
load_result load_file(const std::string& path) { return file_source(path).load(); }

std::filesystem::path repo_root() {
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path().parent_path();
}

TEST(loader, full_config_fills_every_field) {
  const std::string yaml = R"(workers: 4
drain_timeout: 45s
admin:
  listen: "[::1]:9901"
access_log:
  path: /var/log/lb/access.log
  format: json
listeners:
  - name: web
    listen: 0.0.0.0:8080
    protocol: http
    limits:
      max_connections: 5000
      header_timeout: 5s
      idle_timeout: 90s
      max_header_bytes: 32768
      max_body_bytes: 1048576
    routes:
      - name: api
        match:
          host: API.Example.com
          path_prefix: /v1/
          headers: { X-Canary: "1", x-env: prod }
          cookies: { Beta: always, tier: "" }
        pool: api
        timeout: 15s
        retries: { attempts: 3, on: [refused-stream, 502, 503], budget_percent: 50 }
        set_headers: { X-LB: "1", x-route: api }
      - match: { host: "*.Example.COM", path_exact: /exact }
        pool: web
      - match: { host: "WWW.example.*", path_regex: "/u/[0-9]+" }
        pool: web
      - match: { host: "~^(a|b)\\.Example\\.org$" }
        pool: web
      - pool: web
  - name: internal
    listen: 127.0.0.1:0
    routes:
      - pool: api
pools:
  - name: web
    endpoints:
      - 127.0.0.1:9001
      - "[::1]:9002"
      - { address: app.internal:9003, weight: 5 }
  - name: api
    balancer: maglev
    hash_key: header:X-User-ID
    endpoints:
      - address: 10.0.0.1:80
        weight: 1000
    dns_refresh: 5m
    connect_timeout: 500ms
    keepalive: { max_idle: 0, idle_timeout: 1m }
    max_connections_per_endpoint: 512
    health_check:
      type: http
      path: /ready?full=1
      host: api.internal:8080
      interval: 5s
      timeout: 4500ms
      healthy_threshold: 1
      unhealthy_threshold: 100
      expect_status: 204
    outlier: { consecutive_failures: 1000, base_ejection: 10s, max_ejected_percent: 0 }
    slow_start: 1m
)";
  const auto r = load_string(yaml, "full.yaml");
  for (const auto& e : r.errors) ADD_FAILURE() << e.str();
  ASSERT_TRUE(r.ok());
  const config& c = *r.cfg;
  EXPECT_EQ(c.source, "full.yaml");
  EXPECT_EQ(c.workers, 4u);
  EXPECT_EQ(c.drain_timeout, 45s);
  ASSERT_TRUE(c.admin.listen);
  EXPECT_EQ(c.admin.listen->host, "::1");
  EXPECT_EQ(c.admin.listen->port, 9901);
  EXPECT_EQ(c.access_log.type, access_log::kind::file);
  EXPECT_EQ(c.access_log.path, "/var/log/lb/access.log");

  ASSERT_EQ(c.listeners.size(), 2u);
  const listener& web = c.listeners[0];
  EXPECT_EQ(web.name, "web");
  EXPECT_EQ(web.listen.str(), "0.0.0.0:8080");
  EXPECT_FALSE(web.listen.is_hostname);
  EXPECT_EQ(web.proto, protocol::http);
  EXPECT_EQ(web.limits.max_connections, 5000u);
  EXPECT_EQ(web.limits.header_timeout, 5s);
  EXPECT_EQ(web.limits.idle_timeout, 90s);
  EXPECT_EQ(web.limits.max_header_bytes, 32768u);
  EXPECT_EQ(web.limits.max_body_bytes, 1048576u);

  ASSERT_EQ(web.routes.size(), 5u);
  const route& api = web.routes[0];
  EXPECT_EQ(api.name, "api");
  EXPECT_EQ(api.host.type, host_match::kind::exact);
  EXPECT_EQ(api.host.value, "api.example.com");
  EXPECT_EQ(api.path.type, path_match::kind::prefix);
  EXPECT_EQ(api.path.value, "/v1/");
  EXPECT_EQ(api.headers, (headers{{"x-canary", "1"}, {"x-env", "prod"}}));
  EXPECT_EQ(api.cookies, (headers{{"Beta", "always"}, {"tier", ""}}));  // names as written
  EXPECT_EQ(api.pool, "api");
  EXPECT_EQ(api.pool_index, 1u);
  EXPECT_EQ(api.timeout, 15s);
  EXPECT_EQ(api.retries.attempts, 3u);
  EXPECT_FALSE(api.retries.on_connect_failure);  // `on` replaces the default set
  EXPECT_TRUE(api.retries.on_refused_stream);
  EXPECT_EQ(api.retries.on_status, (std::vector<std::uint16_t>{502, 503}));
  EXPECT_EQ(api.retries.budget_percent, 50u);
  EXPECT_EQ(api.set_headers, (headers{{"x-lb", "1"}, {"x-route", "api"}}));

  const route& suffix = web.routes[1];
  EXPECT_EQ(suffix.name, "route1");
  EXPECT_EQ(suffix.host.type, host_match::kind::suffix);
  EXPECT_EQ(suffix.host.value, ".example.com");
  EXPECT_EQ(suffix.path.type, path_match::kind::exact);
  EXPECT_EQ(suffix.path.value, "/exact");
  EXPECT_EQ(suffix.pool_index, 0u);

  const route& prefix = web.routes[2];
  EXPECT_EQ(prefix.host.type, host_match::kind::prefix);
  EXPECT_EQ(prefix.host.value, "www.example.");
  EXPECT_EQ(prefix.path.type, path_match::kind::regex);
  EXPECT_EQ(prefix.path.value, "/u/[0-9]+");

  const route& regex = web.routes[3];
  EXPECT_EQ(regex.host.type, host_match::kind::regex);
  EXPECT_EQ(regex.host.value, "^(a|b)\\.Example\\.org$");  // patterns keep their case
  EXPECT_EQ(regex.path.type, path_match::kind::prefix);
  EXPECT_EQ(regex.path.value, "/");

  EXPECT_EQ(web.routes[4].name, "route4");
  EXPECT_EQ(web.routes[4].host.type, host_match::kind::any);

  const listener& internal = c.listeners[1];
  EXPECT_EQ(internal.listen.port, 0);
  ASSERT_EQ(internal.routes.size(), 1u);
  EXPECT_EQ(internal.routes[0].pool_index, 1u);

  ASSERT_EQ(c.pools.size(), 2u);
  const pool& wp = c.pools[0];
  EXPECT_EQ(wp.name, "web");
  ASSERT_EQ(wp.endpoints.size(), 3u);
  EXPECT_EQ(wp.endpoints[0].addr.str(), "127.0.0.1:9001");
  EXPECT_EQ(wp.endpoints[0].weight, 1u);
  EXPECT_EQ(wp.endpoints[1].addr.host, "::1");
  EXPECT_EQ(wp.endpoints[1].addr.port, 9002);
  EXPECT_EQ(wp.endpoints[2].addr.host, "app.internal");
  EXPECT_TRUE(wp.endpoints[2].addr.is_hostname);
  EXPECT_EQ(wp.endpoints[2].weight, 5u);

  const pool& ap = c.pools[1];
  EXPECT_EQ(ap.balancer, balancer_kind::maglev);
  EXPECT_EQ(ap.hash_key.type, hash_key::kind::header);
  EXPECT_EQ(ap.hash_key.name, "x-user-id");
  ASSERT_EQ(ap.endpoints.size(), 1u);
  EXPECT_EQ(ap.endpoints[0].weight, 1000u);
  EXPECT_EQ(ap.dns_refresh, 5min);
  EXPECT_EQ(ap.connect_timeout, 500ms);
  EXPECT_EQ(ap.keepalive.max_idle, 0u);
  EXPECT_EQ(ap.keepalive.idle_timeout, 1min);
  EXPECT_EQ(ap.max_connections_per_endpoint, 512u);
  ASSERT_TRUE(ap.health_check);
  const health_check& hc = *ap.health_check;
  EXPECT_EQ(hc.type, health_check::kind::http);
  EXPECT_EQ(hc.path, "/ready?full=1");
  EXPECT_EQ(hc.host, "api.internal:8080");
  EXPECT_EQ(hc.interval, 5s);
  EXPECT_EQ(hc.timeout, 4500ms);
  EXPECT_EQ(hc.healthy_threshold, 1u);
  EXPECT_EQ(hc.unhealthy_threshold, 100u);
  EXPECT_EQ(hc.expect_status_min, 204);
  EXPECT_EQ(hc.expect_status_max, 204);
  ASSERT_TRUE(ap.outlier);
  EXPECT_EQ(ap.outlier->consecutive_failures, 1000u);
  EXPECT_EQ(ap.outlier->base_ejection, 10s);
  EXPECT_EQ(ap.outlier->max_ejected_percent, 0u);
  EXPECT_EQ(ap.slow_start, 1min);
}

TEST(loader, defaults_apply_when_keys_are_absent) {
  const auto r = load_string(minimal, "min.yaml");
  ASSERT_TRUE(r.ok()) << r.errors[0].str();
  const config& c = *r.cfg;
  EXPECT_EQ(c.workers, 0u);  // auto
  EXPECT_EQ(c.drain_timeout, 30s);
  EXPECT_FALSE(c.admin.listen);
  EXPECT_EQ(c.access_log.type, access_log::kind::stdout_);
  EXPECT_EQ(c.access_log.path, "");
  const listener& l = c.listeners.at(0);
  EXPECT_EQ(l.proto, protocol::http);
  EXPECT_EQ(l.limits.max_connections, 100000u);
  EXPECT_EQ(l.limits.header_timeout, 10s);
  EXPECT_EQ(l.limits.idle_timeout, 60s);
  EXPECT_EQ(l.limits.max_header_bytes, 16384u);
  EXPECT_EQ(l.limits.max_body_bytes, 0u);
  const route& rt = l.routes.at(0);
  EXPECT_EQ(rt.name, "route0");
  EXPECT_EQ(rt.host.type, host_match::kind::any);
  EXPECT_EQ(rt.path.type, path_match::kind::prefix);
  EXPECT_EQ(rt.path.value, "/");
  EXPECT_TRUE(rt.headers.empty());
  EXPECT_TRUE(rt.set_headers.empty());
  EXPECT_EQ(rt.timeout, 30s);
  EXPECT_EQ(rt.pool_index, 0u);
  EXPECT_EQ(rt.retries.attempts, 2u);
  EXPECT_TRUE(rt.retries.on_connect_failure);
  EXPECT_TRUE(rt.retries.on_refused_stream);
  EXPECT_TRUE(rt.retries.on_status.empty());
  EXPECT_EQ(rt.retries.budget_percent, 20u);
  const pool& p = c.pools.at(0);
  EXPECT_EQ(p.balancer, balancer_kind::round_robin);
  EXPECT_EQ(p.hash_key.type, hash_key::kind::client_ip);
  EXPECT_EQ(p.hash_key.name, "");
  EXPECT_EQ(p.connect_timeout, 2s);
  EXPECT_EQ(p.dns_refresh, 30s);
  EXPECT_EQ(p.keepalive.max_idle, 64u);
  EXPECT_EQ(p.keepalive.idle_timeout, 60s);
  EXPECT_EQ(p.max_connections_per_endpoint, 0u);
  EXPECT_EQ(p.health_check, std::nullopt);
  EXPECT_EQ(p.outlier, std::nullopt);
  EXPECT_EQ(p.slow_start, 0s);
  EXPECT_EQ(p.endpoints.at(0).weight, 1u);
}

TEST(loader, workers_auto_or_bounded_number) {
  EXPECT_EQ(load_string("workers: auto\n" + minimal, "t").cfg->workers, 0u);
  EXPECT_EQ(load_string("workers: 256\n" + minimal, "t").cfg->workers, 256u);
  const std::string msg = R"(invalid 'workers': expected "auto" or an integer from 1 to 256, got )";
  EXPECT_EQ(errors_of("workers: 0\n" + minimal), (std::vector<std::string>{"t.yaml:1:10: " + msg + "\"0\""}));
  EXPECT_EQ(errors_of("workers: 257\n" + minimal), (std::vector<std::string>{"t.yaml:1:10: " + msg + "\"257\""}));
  EXPECT_EQ(errors_of("workers: many\n" + minimal), (std::vector<std::string>{"t.yaml:1:10: " + msg + "\"many\""}));
}

TEST(loader, unknown_key_names_the_section_and_the_valid_keys) {
  EXPECT_EQ(errors_of(R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    lsiten: x
    routes: [{pool: web}]
pools: [{name: web, endpoints: [127.0.0.1:9001], wieght: 1}]
colour: blue
)"),
            (std::vector<std::string>{
                "t.yaml:4:5: unknown key 'lsiten' in listener (expected one of: name, listen, "
                "protocol, limits, routes, tls, pool, accept_proxy_protocol, splice, protocols, http2, peek_timeout, "
                "non_tls, request_id, tracing, client_limits, redirect_https)",
                "t.yaml:6:50: unknown key 'wieght' in pool (expected one of: name, balancer, "
                "hash_key, endpoints, dns_refresh, connect_timeout, keepalive, "
                "max_connections_per_endpoint, health_check, outlier, slow_start, proxy_protocol, tls, "
                "protocol, max_concurrent_streams, affinity)",
                "t.yaml:7:1: unknown key 'colour' in top level (expected one of: workers, "
                "drain_timeout, admin, access_log, listeners, pools, tls, metrics, limits, kubernetes)",
            }));
}

TEST(loader, wrong_types_are_reported_at_the_value) {
  EXPECT_EQ(errors_of(R"(listeners:
  - name: {first: web}
    listen: [127.0.0.1, 8080]
    limits: [1]
    routes:
      - pool: web
        match: /api
pools:
  - name: web
    endpoints: 127.0.0.1:9001
    keepalive: {max_idle: lots}
)"),
            (std::vector<std::string>{
                "t.yaml:2:11: invalid 'name': expected a string, got a map",
                "t.yaml:3:13: invalid 'listen': expected an address like \"127.0.0.1:8080\" or "
                "\"[::1]:8080\", got a list",
                "t.yaml:4:13: invalid 'limits': expected a map, got a list",
                "t.yaml:7:16: invalid 'match': expected a map, got \"/api\"",
                "t.yaml:10:16: invalid 'endpoints': expected a list, got \"127.0.0.1:9001\"",
                "t.yaml:11:27: invalid 'max_idle': expected an integer from 0 to 100000, got "
                "\"lots\"",
            }));
}

TEST(loader, empty_value_is_reported_at_its_key) {
  // yaml-cpp marks an empty value at the next token; the key is where it belongs.
  EXPECT_EQ(errors_of(R"(drain_timeout:
admin:
)" + minimal),
            (std::vector<std::string>{
                "t.yaml:1:1: invalid 'drain_timeout': expected a duration like \"250ms\" or "
                "\"2s\", got an empty value",
                "t.yaml:2:1: invalid 'admin': expected a map, got an empty value",
            }));
}

TEST(loader, bad_durations) {
  EXPECT_EQ(errors_of(R"(drain_timeout: fast
listeners:
  - name: web
    listen: 127.0.0.1:8080
    limits: { header_timeout: 0s, idle_timeout: 10 }
    routes: [{pool: web, timeout: 1.5s}]
pools: [{name: web, endpoints: [127.0.0.1:9001], connect_timeout: -1s}]
)"),
            (std::vector<std::string>{
                R"(t.yaml:1:16: invalid 'drain_timeout': expected a duration like "250ms" or "2s", got "fast")",
                "t.yaml:5:31: invalid 'header_timeout': must be greater than 0",
                R"(t.yaml:5:49: invalid 'idle_timeout': expected a duration like "250ms" or "2s", got "10")",
                R"(t.yaml:6:35: invalid 'timeout': expected a duration like "250ms" or "2s", got "1.5s")",
                R"(t.yaml:7:67: invalid 'connect_timeout': expected a duration like "250ms" or "2s", got "-1s")",
            }));
  // Zero is a valid drain: exit as soon as connections are closed.
  EXPECT_EQ(load_string("drain_timeout: 0s\n" + minimal, "t").cfg->drain_timeout, 0s);
}

TEST(loader, bad_addresses) {
  EXPECT_EQ(errors_of(R"(admin: {listen: localhost:9901}
listeners:
  - name: a
    listen: 127.0.0.1:99999
    routes: [{pool: web}]
  - name: b
    listen: ::1:80
    routes: [{pool: web}]
  - name: c
    listen: 127.0.0.1
    routes: [{pool: web}]
pools:
  - name: web
    endpoints: [127.0.0.1:0, "bad host:80", {address: x.example:1, weight: 1001}]
)"),
            (std::vector<std::string>{
                "t.yaml:1:17: invalid 'listen': must be an IP address (lb does not resolve names "
                "to listen on), got \"localhost:9901\"",
                "t.yaml:4:13: invalid 'listen': expected an address like \"127.0.0.1:8080\" or "
                "\"[::1]:8080\", got \"127.0.0.1:99999\" (port must be 0..65535)",
                "t.yaml:7:13: invalid 'listen': expected an address like \"127.0.0.1:8080\" or "
                "\"[::1]:8080\", got \"::1:80\" (IPv6 addresses need brackets, like [::1]:8080)",
                "t.yaml:10:13: invalid 'listen': expected an address like \"127.0.0.1:8080\" or "
                "\"[::1]:8080\", got \"127.0.0.1\" (missing ':port')",
                "t.yaml:14:17: invalid 'address': an endpoint's port must not be 0",
                "t.yaml:14:30: invalid 'address': expected an address like \"127.0.0.1:8080\" or "
                "\"[::1]:8080\", got \"bad host:80\"",
                "t.yaml:14:76: invalid 'weight': expected an integer from 1 to 1000, got \"1001\"",
            }));
}

TEST(loader, route_naming_an_unknown_pool) {
  EXPECT_EQ(errors_of(R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    routes:
      - name: api
        pool: x
      - pool: "y"
pools: [{name: web, endpoints: [127.0.0.1:9001]}]
)"),
            (std::vector<std::string>{
                "t.yaml:6:15: route 'api' names unknown pool 'x'",
                "t.yaml:7:15: route 'route1' names unknown pool 'y'",
            }));
}

TEST(loader, route_pool_written_empty_or_missing) {
  // An empty name is reported by the route decoder (cross_check leaves empty
  // pools to the source), with the route's final name; a missing one only once.
  EXPECT_EQ(errors_of(R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    routes:
      - pool: ""
        name: late
      - name: none
pools: [{name: web, endpoints: [127.0.0.1:9001]}]
)"),
            (std::vector<std::string>{
                "t.yaml:5:15: route 'late' names unknown pool ''",
                "t.yaml:7:9: missing required key 'pool' in route",
            }));
}

TEST(loader, duplicate_names_point_back_at_the_first) {
  EXPECT_EQ(errors_of(R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    routes:
      - { pool: web }
      - { name: route0, pool: web }
  - name: web
    listen: 127.0.0.1:8081
    routes: [{pool: web}]
pools:
  - name: web
    endpoints: [127.0.0.1:9001, 127.0.0.1:9001]
  - name: web
    endpoints: [127.0.0.1:9001]
)"),
            (std::vector<std::string>{
                "t.yaml:6:17: duplicate route name 'route0' (first used on line 5)",
                "t.yaml:7:11: duplicate listener name 'web' (first used on line 2)",
                "t.yaml:12:33: endpoint 127.0.0.1:9001 is listed twice (use 'weight' instead)",
                "t.yaml:13:11: duplicate pool name 'web' (first used on line 11)",
            }));
}

TEST(loader, duplicate_keys_and_listen_addresses) {
  EXPECT_EQ(errors_of(R"(admin: {listen: 127.0.0.1:8080}
listeners:
  - name: a
    listen: 127.0.0.1:8080
    listen: 127.0.0.1:8081
    routes: [{pool: web}]
  - name: b
    listen: 127.0.0.1:8080
    routes: [{pool: web}]
  - name: c
    listen: 127.0.0.1:0
    routes: [{pool: web}]
  - name: d
    listen: 127.0.0.1:0
    routes: [{pool: web}]
pools: [{name: web, endpoints: [127.0.0.1:9001]}]
)"),
            (std::vector<std::string>{
                "t.yaml:1:17: admin listen address 127.0.0.1:8080 is already used by listener 'a'",
                "t.yaml:5:5: duplicate key 'listen' in listener",
                "t.yaml:8:13: listen address 127.0.0.1:8080 is already used by listener 'a'",
            }));
}

// Without a token a non-loopback admin server is valid (probes, scrapes) and
// refuses mutating requests at run time (integration.hardening).
TEST(loader, admin_off_loopback_without_a_token_file_is_valid) {
  EXPECT_TRUE(errors_of("admin: {listen: 0.0.0.0:9901}\n" + minimal).empty());
  EXPECT_TRUE(errors_of("admin: {listen: 127.0.0.2:9901}\n" + minimal).empty());
  EXPECT_TRUE(errors_of("admin: {listen: \"[::1]:9901\"}\n" + minimal).empty());
}

TEST(loader, yaml_syntax_error_at_its_mark) {
  EXPECT_EQ(errors_of("listeners: [\n  {name: a\n"),
            (std::vector<std::string>{"t.yaml:3:1: YAML syntax error: end of map flow not found"}));
  EXPECT_EQ(errors_of("a: b: c\n"),
            (std::vector<std::string>{"t.yaml:1:5: YAML syntax error: illegal map value"}));
}

TEST(loader, empty_or_non_map_document) {
  EXPECT_EQ(errors_of(""), (std::vector<std::string>{"t.yaml:1:1: config is empty"}));
  EXPECT_EQ(errors_of("- a\n"),
            (std::vector<std::string>{"t.yaml:1:1: expected a map with 'listeners' and 'pools' "
                                      "at top level, got a list"}));
}

TEST(loader, all_errors_reported_in_file_order) {
  // Pool references are checked after the whole file is read; their errors
  // still come out between the ones around them.
  const auto errs = errors_of(R"(drain_timeout: soon
listeners:
  - name: web
    listen: 127.0.0.1:8080
    routes: [{pool: nope}]
    bogus: 1
pools:
  - name: web
    endpoints: [127.0.0.1:0]
)");
  EXPECT_EQ(errs, (std::vector<std::string>{
                      R"(t.yaml:1:16: invalid 'drain_timeout': expected a duration like "250ms" or "2s", got "soon")",
                      "t.yaml:5:21: route 'route0' names unknown pool 'nope'",
                      "t.yaml:6:5: unknown key 'bogus' in listener (expected one of: name, "
                      "listen, protocol, limits, routes, tls, pool, accept_proxy_protocol, splice, protocols, http2, "
                      "peek_timeout, non_tls, request_id, tracing, client_limits, redirect_https)",
                      "t.yaml:9:17: invalid 'address': an endpoint's port must not be 0",
                  }));
}

TEST(loader, shipped_configs_are_valid) {
  std::vector<std::filesystem::path> files{repo_root() / "config" / "lb.yaml"};
  const auto examples = repo_root() / "config" / "examples";
  if (std::filesystem::is_directory(examples)) {
    for (const auto& e : std::filesystem::directory_iterator(examples)) {
      if (e.path().extension() == ".yaml") files.push_back(e.path());
    }
  }
  for (const auto& f : files) {
    const auto r = load_file(f.string());
    for (const auto& e : r.errors) ADD_FAILURE() << e.str();
  }
}

TEST(loader, demo_config_matches_the_readme) {
  const auto r = load_file((repo_root() / "config" / "lb.yaml").string());
  ASSERT_TRUE(r.ok());
  const config& c = *r.cfg;
  ASSERT_TRUE(c.admin.listen);
  EXPECT_EQ(c.admin.listen->str(), "127.0.0.1:9901");
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].name, "web");
  EXPECT_EQ(c.listeners[0].listen.str(), "0.0.0.0:8080");
  const auto& routes = c.listeners[0].routes;
  ASSERT_EQ(routes.size(), 2u);
  EXPECT_EQ(routes[0].path.value, "/api/");
  EXPECT_EQ(c.pools.at(routes[0].pool_index).name, "api");
  EXPECT_EQ(routes[0].set_headers, (headers{{"x-lb-route", "api"}}));
  EXPECT_EQ(routes[1].path.value, "/");
  EXPECT_EQ(c.pools.at(routes[1].pool_index).name, "web");
  const auto& web = c.pools.at(routes[1].pool_index).endpoints;
  ASSERT_EQ(web.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(web[i].addr.str(), "127.0.0.1:" + std::to_string(9001 + i));
    EXPECT_EQ(web[i].weight, 1u);
  }
  const auto& api = c.pools.at(routes[0].pool_index).endpoints;
  ASSERT_EQ(api.size(), 2u);
  EXPECT_EQ(api[0].addr.str(), "127.0.0.1:9002");
  EXPECT_EQ(api[0].weight, 2u);
  EXPECT_EQ(api[1].addr.str(), "127.0.0.1:9003");
  EXPECT_EQ(api[1].weight, 1u);
}

}  // namespace
}  // namespace lb::config
