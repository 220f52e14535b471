#include "lb/config/loader.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace lb::config {
namespace {

using namespace std::chrono_literals;
using headers = std::vector<std::pair<std::string, std::string>>;

std::vector<std::string> errors_of(const std::string& yaml) {
  const auto r = load_string(yaml, "t.yaml");
  std::vector<std::string> out;
  for (const auto& e : r.errors) out.push_back(e.str());
  EXPECT_EQ(r.cfg == nullptr, !r.errors.empty()) << "cfg is set only when valid";
  return out;
}

// The smallest valid config; error tests append to or edit it.
const std::string minimal = R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    routes:
      - pool: web
pools:
  - name: web
    endpoints: [127.0.0.1:9001]
)";

std::filesystem::path repo_root() {
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path().parent_path();
}

TEST(loader, full_config_fills_every_field) {
  const std::string yaml = R"(workers: 4
drain_timeout: 45s
admin:
  listen: "[::1]:9901"
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
        pool: api
        timeout: 15s
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
    balancer: round_robin
    endpoints:
      - address: 10.0.0.1:80
        weight: 1000
    connect_timeout: 500ms
    keepalive: { max_idle: 0, idle_timeout: 1m }
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
  EXPECT_EQ(api.pool, "api");
  EXPECT_EQ(api.pool_index, 1u);
  EXPECT_EQ(api.timeout, 15s);
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
  EXPECT_EQ(ap.balancer, balancer_kind::round_robin);
  ASSERT_EQ(ap.endpoints.size(), 1u);
  EXPECT_EQ(ap.endpoints[0].weight, 1000u);
  EXPECT_EQ(ap.connect_timeout, 500ms);
  EXPECT_EQ(ap.keepalive.max_idle, 0u);
  EXPECT_EQ(ap.keepalive.idle_timeout, 1min);
}

TEST(loader, defaults_apply_when_keys_are_absent) {
  const auto r = load_string(minimal, "min.yaml");
  ASSERT_TRUE(r.ok()) << r.errors[0].str();
  const config& c = *r.cfg;
  EXPECT_EQ(c.workers, 0u);  // auto
  EXPECT_EQ(c.drain_timeout, 30s);
  EXPECT_FALSE(c.admin.listen);
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
  const pool& p = c.pools.at(0);
  EXPECT_EQ(p.balancer, balancer_kind::round_robin);
  EXPECT_EQ(p.connect_timeout, 2s);
  EXPECT_EQ(p.keepalive.max_idle, 64u);
  EXPECT_EQ(p.keepalive.idle_timeout, 60s);
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
                "protocol, limits, routes)",
                "t.yaml:6:50: unknown key 'wieght' in pool (expected one of: name, balancer, "
                "endpoints, connect_timeout, keepalive)",
                "t.yaml:7:1: unknown key 'colour' in top level (expected one of: workers, "
                "drain_timeout, admin, listeners, pools)",
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

TEST(loader, design_keys_not_in_this_build_say_so) {
  EXPECT_EQ(errors_of(R"(access_log: {path: stdout}
listeners:
  - name: web
    listen: 127.0.0.1:8080
    tls: {}
    routes:
      - pool: web
        retries: {attempts: 2}
  - name: pg
    listen: 127.0.0.1:5432
    protocol: tcp
    pool: pg
    proxy_protocol: v2
pools:
  - name: web
    balancer: least_conn
    endpoints: [127.0.0.1:9001]
    hash_key: client_ip
    dns_refresh: 30s
    max_connections_per_endpoint: 10
    health_check: {type: http}
    outlier: {}
    slow_start: 30s
  - name: pg
    balancer: roundrobin
    endpoints: [127.0.0.1:9002]
)"),
            (std::vector<std::string>{
                "t.yaml:1:1: 'access_log' is not supported by this version of lb",
                "t.yaml:5:5: 'tls' is not supported by this version of lb",
                "t.yaml:8:9: 'retries' is not supported by this version of lb",
                "t.yaml:11:15: protocol 'tcp' is not supported by this version of lb",
                "t.yaml:12:5: 'pool' is not supported by this version of lb",
                "t.yaml:13:5: 'proxy_protocol' is not supported by this version of lb",
                "t.yaml:16:15: balancer 'least_conn' is not supported by this version of lb",
                "t.yaml:18:5: 'hash_key' is not supported by this version of lb",
                "t.yaml:19:5: 'dns_refresh' is not supported by this version of lb",
                "t.yaml:20:5: 'max_connections_per_endpoint' is not supported by this version of lb",
                "t.yaml:21:5: 'health_check' is not supported by this version of lb",
                "t.yaml:22:5: 'outlier' is not supported by this version of lb",
                "t.yaml:23:5: 'slow_start' is not supported by this version of lb",
                "t.yaml:25:15: unknown balancer 'roundrobin' (expected one of: round_robin)",
            }));
}

TEST(loader, unknown_protocol) {
  EXPECT_EQ(errors_of(R"(listeners:
  - {name: web, listen: 127.0.0.1:8080, protocol: udp, routes: [{pool: web}]}
pools: [{name: web, endpoints: [127.0.0.1:9001]}]
)"),
            (std::vector<std::string>{
                "t.yaml:2:51: unknown protocol 'udp' (expected one of: http)"}));
}

TEST(loader, missing_required_keys_point_at_the_map) {
  EXPECT_EQ(errors_of(R"(listeners:
  - listen: 127.0.0.1:8080
  - name: b
    routes: [{name: r}]
pools:
  - endpoints: [{weight: 2}]
  - name: empty
    endpoints: []
)"),
            (std::vector<std::string>{
                "t.yaml:2:5: missing required key 'name' in listener",
                "t.yaml:2:5: missing required key 'routes' in listener",
                "t.yaml:3:5: missing required key 'listen' in listener",
                "t.yaml:4:14: missing required key 'pool' in route",
                "t.yaml:6:5: missing required key 'name' in pool",
                "t.yaml:6:17: missing required key 'address' in endpoint",
                "t.yaml:8:16: 'endpoints' must not be empty",
            }));
  EXPECT_EQ(errors_of("workers: 2\n"),
            (std::vector<std::string>{
                "t.yaml:1:1: missing required key 'listeners' in config",
                "t.yaml:1:1: missing required key 'pools' in config",
            }));
}

TEST(loader, match_validation) {
  EXPECT_EQ(errors_of(R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    routes:
      - pool: web
        match:
          host: "*.exa*mple.com"
          path_prefix: v1
          path_exact: /x
      - pool: web
        match: {host: "~(x", path_regex: "(abc", headers: {"x canary": 1, X-A: "1", x-a: "2"}}
      - pool: web
        match: {host: "", path_exact: "/a?b"}
pools: [{name: web, endpoints: [127.0.0.1:9001]}]
)"),
            (std::vector<std::string>{
                "t.yaml:7:17: invalid host '*.exa*mple.com': '*' is only allowed as "
                "'*.example.com' or 'www.example.*'",
                "t.yaml:8:24: invalid 'path_prefix': must start with '/', got \"v1\"",
                "t.yaml:9:11: 'path_exact' conflicts with 'path_prefix': a route matches at most "
                "one of path_prefix, path_exact, path_regex",
                "t.yaml:11:23: invalid host regex '(x': missing ): (x",
                "t.yaml:11:42: invalid 'path_regex' '(abc': missing ): (abc",
                "t.yaml:11:60: invalid header name \"x canary\" in 'headers'",
                "t.yaml:11:85: duplicate header 'x-a' in 'headers'",
                "t.yaml:13:23: empty host (leave 'host' out to match any host)",
                "t.yaml:13:39: invalid 'path_exact': must not contain '?' (the query string is "
                "not matched)",
            }));
}

TEST(loader, set_headers_validation) {
  EXPECT_EQ(errors_of(R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    routes:
      - pool: web
        set_headers:
          Content-Length: "5"
          x-split: "a\r\nb"
          x-nul: "a\0b"
          x-list: [1, 2]
          x-ok: fine
pools: [{name: web, endpoints: [127.0.0.1:9001]}]
)"),
            (std::vector<std::string>{
                "t.yaml:7:11: 'set_headers' may not set 'content-length': lb manages framing and "
                "hop-by-hop headers itself",
                "t.yaml:8:20: invalid value for header 'x-split': it must not contain CR, LF or NUL",
                "t.yaml:9:18: invalid value for header 'x-nul': it must not contain CR, LF or NUL",
                "t.yaml:10:19: invalid 'x-list': expected a string, got a list",
            }));
}

TEST(loader, limits_ranges) {
  EXPECT_EQ(errors_of(R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    limits:
      max_connections: 0
      max_header_bytes: 1023
      max_body_bytes: -5
    routes: [{pool: web}]
pools: [{name: web, endpoints: [127.0.0.1:9001]}]
)"),
            (std::vector<std::string>{
                "t.yaml:5:24: invalid 'max_connections': expected an integer >= 1, got \"0\"",
                "t.yaml:6:25: invalid 'max_header_bytes': expected an integer from 1024 to "
                "1048576, got \"1023\"",
                "t.yaml:7:23: invalid 'max_body_bytes': expected an integer >= 0, got \"-5\"",
            }));
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
                      "listen, protocol, limits, routes)",
                      "t.yaml:9:17: invalid 'address': an endpoint's port must not be 0",
                  }));
}

TEST(loader, load_file_reads_and_names_the_file) {
  const auto path = std::filesystem::path(testing::TempDir()) / "lb_loader_test.yaml";
  {
    std::ofstream out(path);
    out << minimal << "bogus: 1\n";
  }
  const auto r = load_file(path.string());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].file, path.string());
  EXPECT_EQ(r.errors[0].line, 9);
  EXPECT_EQ(r.errors[0].column, 1);
  std::filesystem::remove(path);
}

TEST(loader, unreadable_file_is_a_diagnostic_not_an_exception) {
  auto r = load_file("/nonexistent/lb.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].str(),
            "/nonexistent/lb.yaml:1:1: cannot read config file: No such file or directory");
  EXPECT_FALSE(r.cfg);

  r = load_file(testing::TempDir());  // a directory opens, then fails to read
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("cannot read config file"), std::string::npos);
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
