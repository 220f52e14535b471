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

TEST(loader, client_certificates_and_their_headers) {
  const auto r = load_string(R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    tls:
      certificates: [{cert: a.crt, key: a.key}]
      client_ca: ca.pem
      crl: ca.crl
      client_cert_headers: { subject: X-Client-Subject, fingerprint: X-Client-Cert-Sha256 }
    routes:
      - pool: web
pools:
  - name: web
    endpoints: [127.0.0.1:9001]
)", "t.yaml");
  ASSERT_TRUE(r.ok()) << r.errors[0].str();
  const auto& t = *r.cfg->listeners[0].tls;
  EXPECT_EQ(t.verify, client_verify::required);  // a CA without `verify` means required
  EXPECT_EQ(t.client_ca, "ca.pem");
  EXPECT_EQ(t.crl, "ca.crl");
  EXPECT_EQ(t.subject_header, "x-client-subject");
  EXPECT_EQ(t.fingerprint_header, "x-client-cert-sha256");
}

TEST(loader, client_certificate_mistakes_are_reported_where_they_are) {
  EXPECT_EQ(errors_of(R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    tls:
      certificates: [{cert: a.crt, key: a.key}]
      verify: optional
      client_cert_headers: { subject: Content-Length, fingerprint: "a b" }
    routes:
      - pool: web
pools:
  - name: web
    endpoints: [127.0.0.1:9001]
)"),
            (std::vector<std::string>{
                "t.yaml:6:15: 'verify: optional' needs 'client_ca' (the CA certificates clients' certificates are "
                "checked against)",
                "t.yaml:7:28: 'client_cert_headers' needs 'client_ca' and 'verify' other than off",
                "t.yaml:7:39: 'subject' may not be 'content-length': lb writes that field itself",
                "t.yaml:7:68: invalid header name 'a b' in 'fingerprint'",
            }));
}

TEST(loader, client_cert_headers_need_an_http_listener) {
  EXPECT_EQ(errors_of(R"(listeners:
  - name: db
    listen: 127.0.0.1:8080
    protocol: tcp
    pool: web
    tls:
      certificates: [{cert: a.crt, key: a.key}]
      client_ca: ca.pem
      client_cert_headers: { subject: X-Client-Subject }
pools:
  - name: web
    endpoints: [127.0.0.1:9001]
)"),
            (std::vector<std::string>{
                "t.yaml:9:28: 'client_cert_headers' applies only to HTTP listeners",
            }));
}

TEST(loader, redirect_https_answers_without_routes) {
  const auto r = load_string(R"(listeners:
  - name: plain
    listen: 127.0.0.1:8080
    redirect_https: { port: 8443, code: 301 }
  - name: default
    listen: 127.0.0.1:8081
    redirect_https: {}
pools:
  - name: web
    endpoints: [127.0.0.1:9001]
)", "t.yaml");
  ASSERT_TRUE(r.ok()) << r.errors[0].str();
  EXPECT_EQ(r.cfg->listeners[0].redirect_https->port, 8443);
  EXPECT_EQ(r.cfg->listeners[0].redirect_https->code, 301u);
  EXPECT_EQ(r.cfg->listeners[1].redirect_https->port, 0);
  EXPECT_EQ(r.cfg->listeners[1].redirect_https->code, 308u);
  EXPECT_EQ(errors_of(R"(listeners:
  - name: plain
    listen: 127.0.0.1:8080
    redirect_https: { code: 302 }
    routes:
      - pool: web
pools:
  - name: web
    endpoints: [127.0.0.1:9001]
)"),
            (std::vector<std::string>{
                "t.yaml:4:5: 'redirect_https' answers every request itself: the listener takes no 'routes'",
                "t.yaml:4:29: invalid 'code' 302 (expected 308 or 301)",
            }));
}

TEST(loader, certificate_ocsp_file_is_read_and_resolved_from_the_config_folder) {
  const auto r = load_string(R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    tls:
      certificates: [{cert: a.crt, key: a.key, ocsp: ocsp/a.der}, {cert: b.crt, key: b.key}]
    routes:
      - pool: web
pools:
  - name: web
    endpoints: [127.0.0.1:9001]
)",
                             "/etc/lb/t.yaml");
  ASSERT_TRUE(r.cfg) << r.errors[0].str();
  const auto& certs = r.cfg->listeners[0].tls->certificates;
  EXPECT_EQ(certs[0].ocsp, "/etc/lb/ocsp/a.der");
  EXPECT_EQ(certs[1].ocsp, "");
}

// A pool of the minimal config with `extra` appended to its map; the pool
// starts on line 6, so `extra` starts on line 8.
std::string with_pool(const std::string& extra) {
  return R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    routes: [{pool: web}]
pools:
  - name: web
    endpoints: [127.0.0.1:9001]
)" + extra;
}

// The minimal config with `extra` appended to its only route, from line 6.
std::string with_route(const std::string& extra) {
  return R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    routes:
      - pool: web
)" + extra + R"(pools: [{name: web, endpoints: [127.0.0.1:9001]}]
)";
}

TEST(loader, every_balancer_by_name) {
  const std::pair<const char*, balancer_kind> all[] = {
      {"round_robin", balancer_kind::round_robin}, {"least_conn", balancer_kind::least_conn},
      {"least_request", balancer_kind::least_request}, {"random", balancer_kind::random},
      {"ip_hash", balancer_kind::ip_hash}, {"ring_hash", balancer_kind::ring_hash},
      {"maglev", balancer_kind::maglev}};
  for (const auto& [name, kind] : all) {
    const auto r = load_string(with_pool("    balancer: " + std::string(name) + "\n"), "t");
    ASSERT_TRUE(r.ok()) << name << ": " << r.errors[0].str();
    EXPECT_EQ(r.cfg->pools[0].balancer, kind) << name;
  }
  EXPECT_EQ(errors_of(with_pool("    balancer: roundrobin\n")),
            (std::vector<std::string>{
                "t.yaml:8:15: unknown balancer 'roundrobin' (expected one of: round_robin, "
                "least_conn, least_request, random, ip_hash, ring_hash, maglev)"}));
}

TEST(loader, hash_key_forms) {
  const auto key = [](const std::string& balancer, const std::string& value) {
    const auto r = load_string(
        with_pool("    balancer: " + balancer + "\n    hash_key: \"" + value + "\"\n"), "t");
    EXPECT_TRUE(r.ok()) << value << ": " << (r.ok() ? "" : r.errors[0].str());
    return r.ok() ? r.cfg->pools[0].hash_key : hash_key{};
  };
  EXPECT_EQ(key("ip_hash", "client_ip").type, hash_key::kind::client_ip);
  EXPECT_EQ(key("ring_hash", "path").type, hash_key::kind::path);
  const auto header = key("maglev", "header:X-User-ID");
  EXPECT_EQ(header.type, hash_key::kind::header);
  EXPECT_EQ(header.name, "x-user-id");  // header names are case-insensitive
  const auto cookie = key("ring_hash", "cookie:SessionID");
  EXPECT_EQ(cookie.type, hash_key::kind::cookie);
  EXPECT_EQ(cookie.name, "SessionID");  // cookie names are not
}

TEST(loader, hash_key_errors) {
  EXPECT_EQ(errors_of(R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    routes: [{pool: a}]
pools:
  - {name: a, balancer: maglev, hash_key: ip, endpoints: [127.0.0.1:9001]}
  - {name: b, balancer: maglev, hash_key: "header:", endpoints: [127.0.0.1:9001]}
  - {name: c, balancer: maglev, hash_key: "header:x user", endpoints: [127.0.0.1:9001]}
  - {name: d, balancer: maglev, hash_key: "cookie:a=b", endpoints: [127.0.0.1:9001]}
  - {name: e, balancer: maglev, hash_key: [path], endpoints: [127.0.0.1:9001]}
)"),
            (std::vector<std::string>{
                "t.yaml:6:43: unknown hash_key 'ip' (expected one of: client_ip, header:NAME, "
                "cookie:NAME, path, sni)",
                "t.yaml:7:43: invalid hash_key 'header:': missing the header name after "
                "'header:'",
                "t.yaml:8:43: invalid hash_key 'header:x user': 'x user' is not a valid header "
                "name",
                "t.yaml:9:43: invalid hash_key 'cookie:a=b': 'a=b' is not a valid cookie name",
                "t.yaml:10:43: invalid 'hash_key': expected a string, got a list",
            }));
}

TEST(loader, hash_key_needs_a_hash_balancer) {
  EXPECT_EQ(errors_of(R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    routes: [{pool: a}]
pools:
  - name: a
    hash_key: client_ip
    endpoints: [127.0.0.1:9001]
  - name: b
    hash_key: header:x-user
    balancer: least_request
    endpoints: [127.0.0.1:9001]
  - name: c
    balancer: nope
    hash_key: path
    endpoints: [127.0.0.1:9001]
)"),
            (std::vector<std::string>{
                "t.yaml:7:5: 'hash_key' is only used by the hash balancers (ip_hash, ring_hash, "
                "maglev), but this pool's balancer is 'round_robin'",
                "t.yaml:10:5: 'hash_key' is only used by the hash balancers (ip_hash, ring_hash, "
                "maglev), but this pool's balancer is 'least_request'",
                // Only the balancer is wrong: the key may well be right for the intended one.
                "t.yaml:14:15: unknown balancer 'nope' (expected one of: round_robin, "
                "least_conn, least_request, random, ip_hash, ring_hash, maglev)",
            }));
}

TEST(loader, pool_scalar_keys) {
  EXPECT_EQ(errors_of(with_pool(R"(    dns_refresh: 0s
    max_connections_per_endpoint: -1
    slow_start: soon
)")),
            (std::vector<std::string>{
                "t.yaml:8:18: invalid 'dns_refresh': must be greater than 0",
                "t.yaml:9:35: invalid 'max_connections_per_endpoint': expected an integer from 0 "
                "to 4294967295, got \"-1\"",
                R"(t.yaml:10:17: invalid 'slow_start': expected a duration like "250ms" or "2s", got "soon")",
            }));
  EXPECT_EQ(errors_of(with_pool("    max_connections_per_endpoint: 4294967296\n")),
            (std::vector<std::string>{
                "t.yaml:8:35: invalid 'max_connections_per_endpoint': expected an integer from 0 "
                "to 4294967295, got \"4294967296\""}));
  // Zero turns slow start off; it is not an error like a zero dns_refresh.
  const auto r = load_string(with_pool("    slow_start: 0s\n    max_connections_per_endpoint: 0\n"), "t");
  ASSERT_TRUE(r.ok()) << r.errors[0].str();
  EXPECT_EQ(r.cfg->pools[0].slow_start, 0s);
}

TEST(loader, health_check_defaults) {
  auto r = load_string(with_pool("    health_check: {}\n"), "t");
  ASSERT_TRUE(r.ok()) << r.errors[0].str();
  ASSERT_TRUE(r.cfg->pools[0].health_check);
  const health_check& http = *r.cfg->pools[0].health_check;
  EXPECT_EQ(http.type, health_check::kind::http);
  EXPECT_EQ(http.path, "/healthz");
  EXPECT_EQ(http.host, "");
  EXPECT_EQ(http.interval, 2s);
  EXPECT_EQ(http.timeout, 1s);
  EXPECT_EQ(http.healthy_threshold, 2u);
  EXPECT_EQ(http.unhealthy_threshold, 3u);
  EXPECT_EQ(http.expect_status_min, 200);
  EXPECT_EQ(http.expect_status_max, 399);

  r = load_string(with_pool("    health_check: {type: tcp, interval: 10s, timeout: 3s}\n"), "t");
  ASSERT_TRUE(r.ok()) << r.errors[0].str();
  ASSERT_TRUE(r.cfg->pools[0].health_check);
  EXPECT_EQ(r.cfg->pools[0].health_check->type, health_check::kind::tcp);
  EXPECT_EQ(r.cfg->pools[0].health_check->interval, 10s);
  EXPECT_EQ(r.cfg->pools[0].health_check->timeout, 3s);
}

TEST(loader, health_check_expect_status_forms) {
  const auto range = [](const std::string& value) {
    const auto r = load_string(with_pool("    health_check: {expect_status: " + value + "}\n"), "t");
    EXPECT_TRUE(r.ok()) << value << ": " << (r.ok() ? "" : r.errors[0].str());
    if (!r.ok()) return std::pair<int, int>(0, 0);
    const auto& hc = *r.cfg->pools[0].health_check;
    return std::pair<int, int>(hc.expect_status_min, hc.expect_status_max);
  };
  EXPECT_EQ(range("200"), (std::pair<int, int>(200, 200)));
  EXPECT_EQ(range("\"204\""), (std::pair<int, int>(204, 204)));
  EXPECT_EQ(range("200-399"), (std::pair<int, int>(200, 399)));
  EXPECT_EQ(range("\"100-599\""), (std::pair<int, int>(100, 599)));
  EXPECT_EQ(range("301-301"), (std::pair<int, int>(301, 301)));
}

TEST(loader, health_check_errors) {
  EXPECT_EQ(errors_of(R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    routes: [{pool: a}]
pools:
  - name: a
    endpoints: [127.0.0.1:9001]
    health_check:
      type: udp
      path: healthz
      host: "bad host"
      interval: 0s
      timeout: 1
      healthy_threshold: 0
      unhealthy_threshold: 101
      expect_status: 2xx
      method: GET
  - name: b
    endpoints: [127.0.0.1:9001]
    health_check:
      path: /x
      type: tcp
      host: example.com
      expect_status: 200
  - name: c
    endpoints: [127.0.0.1:9001]
    health_check: {path: "/a b", expect_status: 99-200}
  - name: d
    endpoints: [127.0.0.1:9001]
    health_check: {expect_status: 600}
  - name: e
    endpoints: [127.0.0.1:9001]
    health_check: {expect_status: 399-200}
  - name: f
    endpoints: [127.0.0.1:9001]
    health_check: [http]
)"),
            (std::vector<std::string>{
                "t.yaml:9:13: unknown health check type 'udp' (expected one of: http, tcp, grpc)",
                "t.yaml:10:13: invalid 'path': must start with '/', got \"healthz\"",
                "t.yaml:11:13: invalid 'host': expected a host name or IP address, with an "
                "optional ':port', got \"bad host\"",
                "t.yaml:12:17: invalid 'interval': must be greater than 0",
                R"(t.yaml:13:16: invalid 'timeout': expected a duration like "250ms" or "2s", got "1")",
                "t.yaml:14:26: invalid 'healthy_threshold': expected an integer from 1 to 100, "
                "got \"0\"",
                "t.yaml:15:28: invalid 'unhealthy_threshold': expected an integer from 1 to 100, "
                "got \"101\"",
                "t.yaml:16:22: invalid 'expect_status': expected a status code like 200 or a "
                "range like \"200-399\", got \"2xx\"",
                "t.yaml:17:7: unknown key 'method' in health_check (expected one of: type, path, "
                "host, service, interval, timeout, healthy_threshold, unhealthy_threshold, expect_status)",
                "t.yaml:21:7: 'path' applies only to http health checks, and this one is type "
                "'tcp'",
                "t.yaml:23:7: 'host' applies only to http and grpc health checks, and this one is "
                "type 'tcp'",
                "t.yaml:24:7: 'expect_status' applies only to http health checks, and this one "
                "is type 'tcp'",
                "t.yaml:27:26: invalid 'path': must not contain spaces, control characters or "
                "non-ASCII bytes (percent-encode them)",
                "t.yaml:27:49: invalid 'expect_status': status codes must be from 100 to 599, "
                "got \"99-200\"",
                "t.yaml:30:35: invalid 'expect_status': status codes must be from 100 to 599, "
                "got \"600\"",
                "t.yaml:33:35: invalid 'expect_status': the lower code must come first, got "
                "\"399-200\"",
                "t.yaml:36:19: invalid 'health_check': expected a map, got a list",
            }));
}

TEST(loader, health_check_timeout_must_be_under_interval) {
  EXPECT_EQ(errors_of(with_pool("    health_check: {interval: 5s, timeout: 5s}\n")),
            (std::vector<std::string>{
                "t.yaml:8:43: invalid 'timeout': must be less than 'interval' (5s)"}));
  EXPECT_EQ(errors_of(with_pool("    health_check: {timeout: 3s}\n")),
            (std::vector<std::string>{
                "t.yaml:8:29: invalid 'timeout': must be less than 'interval' (2s, the default)"}));
  EXPECT_EQ(errors_of(with_pool("    health_check: {interval: 500ms}\n")),
            (std::vector<std::string>{
                "t.yaml:8:30: invalid 'interval': must be greater than 'timeout' (1s, the "
                "default)"}));
  // An invalid interval is reported once, not again as out of order.
  EXPECT_EQ(errors_of(with_pool("    health_check: {interval: 0s, timeout: 5s}\n")),
            (std::vector<std::string>{
                "t.yaml:8:30: invalid 'interval': must be greater than 0"}));
}

TEST(loader, outlier) {
  auto r = load_string(with_pool("    outlier: {}\n"), "t");
  ASSERT_TRUE(r.ok()) << r.errors[0].str();
  ASSERT_TRUE(r.cfg->pools[0].outlier);
  EXPECT_EQ(r.cfg->pools[0].outlier->consecutive_failures, 5u);
  EXPECT_EQ(r.cfg->pools[0].outlier->base_ejection, 30s);
  EXPECT_EQ(r.cfg->pools[0].outlier->max_ejected_percent, 50u);

  EXPECT_EQ(errors_of(with_pool(R"(    outlier:
      consecutive_failures: 0
      base_ejection: 0s
      max_ejected_percent: 101
      interval: 10s
)")),
            (std::vector<std::string>{
                "t.yaml:9:29: invalid 'consecutive_failures': expected an integer from 1 to "
                "1000, got \"0\"",
                "t.yaml:10:22: invalid 'base_ejection': must be greater than 0",
                "t.yaml:11:28: invalid 'max_ejected_percent': expected an integer from 0 to "
                "100, got \"101\"",
                "t.yaml:12:7: unknown key 'interval' in outlier (expected one of: "
                "consecutive_failures, base_ejection, max_ejected_percent)",
            }));
  EXPECT_EQ(errors_of(with_pool("    outlier: {consecutive_failures: 1001}\n    outlier:\n")),
            (std::vector<std::string>{
                "t.yaml:8:37: invalid 'consecutive_failures': expected an integer from 1 to "
                "1000, got \"1001\"",
                "t.yaml:9:5: duplicate key 'outlier' in pool",
            }));
}

TEST(loader, retries_on_replaces_the_default_set) {
  const auto policy = [](const std::string& retries) {
    const auto r = load_string(with_route("        retries: " + retries + "\n"), "t");
    EXPECT_TRUE(r.ok()) << retries << ": " << (r.ok() ? "" : r.errors[0].str());
    return r.ok() ? r.cfg->listeners[0].routes[0].retries : retry_policy{};
  };
  auto p = policy("{on: [502]}");
  EXPECT_EQ(p.attempts, 2u);
  EXPECT_FALSE(p.on_connect_failure);
  EXPECT_FALSE(p.on_refused_stream);
  EXPECT_EQ(p.on_status, (std::vector<std::uint16_t>{502}));
  EXPECT_EQ(p.budget_percent, 20u);

  p = policy("{attempts: 0, on: [connect-failure]}");
  EXPECT_EQ(p.attempts, 0u);
  EXPECT_TRUE(p.on_connect_failure);
  EXPECT_FALSE(p.on_refused_stream);
  EXPECT_TRUE(p.on_status.empty());

  p = policy("{attempts: 10, on: [connect-failure, refused-stream, 502, \"503\", 599, 500], "
             "budget_percent: 100}");
  EXPECT_EQ(p.attempts, 10u);
  EXPECT_TRUE(p.on_connect_failure);
  EXPECT_TRUE(p.on_refused_stream);
  EXPECT_EQ(p.on_status, (std::vector<std::uint16_t>{502, 503, 599, 500}));
  EXPECT_EQ(p.budget_percent, 100u);

  // Without `on`, the defaults stay.
  p = policy("{attempts: 1, budget_percent: 0}");
  EXPECT_EQ(p.attempts, 1u);
  EXPECT_TRUE(p.on_connect_failure);
  EXPECT_TRUE(p.on_refused_stream);
  EXPECT_TRUE(p.on_status.empty());
  EXPECT_EQ(p.budget_percent, 0u);
}

TEST(loader, retries_errors) {
  EXPECT_EQ(errors_of(R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    routes:
      - pool: web
        retries:
          attempts: 11
          on: [connect-failure, 5xx, 404, 600, reset, 503, 0503, connect-failure, {a: 1}]
          budget_percent: 101
          per_try_timeout: 1s
      - pool: web
        retries: {on: []}
      - pool: web
        retries: {on: 502}
      - pool: web
        retries: 3
pools: [{name: web, endpoints: [127.0.0.1:9001]}]
)"),
            (std::vector<std::string>{
                "t.yaml:7:21: invalid 'attempts': expected an integer from 0 to 10, got \"11\"",
                "t.yaml:8:33: invalid retry condition \"5xx\" (expected connect-failure, "
                "refused-stream or a status code from 500 to 599)",
                "t.yaml:8:38: invalid retry condition \"404\" (expected connect-failure, "
                "refused-stream or a status code from 500 to 599)",
                "t.yaml:8:43: invalid retry condition \"600\" (expected connect-failure, "
                "refused-stream or a status code from 500 to 599)",
                "t.yaml:8:48: invalid retry condition \"reset\" (expected connect-failure, "
                "refused-stream or a status code from 500 to 599)",
                "t.yaml:8:60: duplicate retry condition '503' in 'on'",
                "t.yaml:8:66: duplicate retry condition 'connect-failure' in 'on'",
                "t.yaml:8:83: invalid retry condition a map (expected connect-failure, "
                "refused-stream or a status code from 500 to 599)",
                "t.yaml:9:27: invalid 'budget_percent': expected an integer from 0 to 100, got "
                "\"101\"",
                "t.yaml:10:11: unknown key 'per_try_timeout' in retries (expected one of: "
                "attempts, on, budget_percent)",
                "t.yaml:12:23: 'on' must not be empty (to turn retries off, set 'attempts: 0')",
                "t.yaml:14:23: invalid 'on': expected a list, got \"502\"",
                "t.yaml:16:18: invalid 'retries': expected a map, got \"3\"",
            }));
}

TEST(loader, access_log) {
  const auto log = [](const std::string& value) {
    const auto r = load_string("access_log: " + value + "\n" + minimal, "t");
    EXPECT_TRUE(r.ok()) << value << ": " << (r.ok() ? "" : r.errors[0].str());
    return r.ok() ? r.cfg->access_log : access_log{};
  };
  EXPECT_EQ(log("{path: stdout}").type, access_log::kind::stdout_);
  EXPECT_EQ(log("{path: off, format: json}").type, access_log::kind::off);
  EXPECT_EQ(log("{format: json}").type, access_log::kind::stdout_);
  const auto file = log("{path: logs/access.json}");
  EXPECT_EQ(file.type, access_log::kind::file);
  EXPECT_EQ(file.path, "logs/access.json");
  EXPECT_EQ(log("{path: ./stdout}").path, "./stdout");  // a file that happens to be named so

  EXPECT_EQ(errors_of(R"(access_log:
  path: ""
  format: text
  level: info
)" + minimal),
            (std::vector<std::string>{
                "t.yaml:2:9: invalid 'path': expected stdout, off or a file path, got \"\"",
                "t.yaml:3:11: unknown access log format 'text' (expected one of: json)",
                "t.yaml:4:3: unknown key 'level' in access_log (expected one of: path, format)",
            }));
  EXPECT_EQ(errors_of("access_log: stdout\n" + minimal),
            (std::vector<std::string>{
                "t.yaml:1:13: invalid 'access_log': expected a map, got \"stdout\""}));
  EXPECT_EQ(errors_of("access_log: {path: [a], format: }\n" + minimal),
            (std::vector<std::string>{
                "t.yaml:1:20: invalid 'path': expected a string, got a list",
                "t.yaml:1:25: invalid 'format': expected a string, got an empty value",
            }));
}

TEST(loader, unknown_protocol) {
  EXPECT_EQ(errors_of(R"(listeners:
  - {name: web, listen: 127.0.0.1:8080, protocol: udp, routes: [{pool: web}]}
pools: [{name: web, endpoints: [127.0.0.1:9001]}]
)"),
            (std::vector<std::string>{
                "t.yaml:2:51: unknown protocol 'udp' (expected one of: http, tcp)"}));
}

TEST(loader, empty_endpoint_list_is_a_pool_without_endpoints_but_null_is_not) {
  const auto r = load_string(R"(listeners: [{name: web, listen: 127.0.0.1:8080, routes: [{pool: p}]}]
pools: [{name: p, endpoints: []}]
)", "t.yaml");
  ASSERT_TRUE(r.ok()) << r.errors.front().str();
  EXPECT_TRUE(r.cfg->pools[0].endpoints.empty());
  EXPECT_EQ(errors_of("listeners: [{name: web, listen: 127.0.0.1:8080, routes: [{pool: p}]}]\n"
                      "pools: [{name: p, endpoints: }]\n"),
            (std::vector<std::string>{"t.yaml:2:19: invalid 'endpoints': expected a list, got an empty value"}));
}

TEST(loader, kubernetes_section_makes_listeners_and_pools_optional) {
  const auto r = load_string(R"(kubernetes:
  kubeconfig: kube/config
  namespace: shop
  ingress_class: nginx
  take_unclassed: true
  http: 127.0.0.1:8080
  tls_dir: tls
)", "/etc/lb/lb.yaml");
  ASSERT_TRUE(r.ok()) << r.errors.front().str();
  ASSERT_TRUE(r.cfg->kubernetes);
  const auto& k = *r.cfg->kubernetes;
  EXPECT_EQ(k.kubeconfig, "/etc/lb/kube/config");  // from the config file's folder
  EXPECT_EQ(k.tls_dir, "/etc/lb/tls");
  EXPECT_EQ(k.namespace_, "shop");
  EXPECT_EQ(k.ingress_class, "nginx");
  EXPECT_EQ(k.controller, "lb.dev/ingress");
  EXPECT_TRUE(k.take_unclassed);
  EXPECT_EQ(k.http.str(), "127.0.0.1:8080");
  EXPECT_EQ(k.https.str(), "0.0.0.0:443");
  EXPECT_TRUE(r.cfg->listeners.empty());
  EXPECT_TRUE(load_string("kubernetes: {}\n", "t.yaml").ok());
  EXPECT_FALSE(load_string("workers: 2\n", "t.yaml").ok());  // without it, listeners are required
  EXPECT_EQ(errors_of("kubernetes: { http: example.com:80, take_unclassed: yes, colour: blue }\n"),
            (std::vector<std::string>{
                "t.yaml:1:21: invalid 'http': must be an IP address (lb does not resolve names to listen on), got "
                "\"example.com:80\"",
                "t.yaml:1:53: invalid 'take_unclassed': expected true or false, got \"yes\"",
                "t.yaml:1:58: unknown key 'colour' in kubernetes (expected one of: kubeconfig, namespace, "
                "ingress_class, controller, take_unclassed, http, https, passthrough_listen, tls_dir, "
                "annotations_prefix, status, leader_election, events)"}));
}

TEST(loader, kubernetes_flag_supplies_the_section) {
  const auto r = load_string("admin: { listen: 127.0.0.1:9901 }\n", "t.yaml", {.kubernetes = true});
  ASSERT_TRUE(r.ok()) << r.errors.front().str();
  ASSERT_TRUE(r.cfg->kubernetes);
  EXPECT_EQ(r.cfg->kubernetes->kubeconfig, "");  // in-cluster
  EXPECT_EQ(r.cfg->kubernetes->ingress_class, "lb");
  EXPECT_EQ(r.cfg->kubernetes->pos.file, "t.yaml");
  EXPECT_EQ(r.cfg->kubernetes->pos.line, 1);
  const auto own = load_string("kubernetes: { ingress_class: nginx }\n", "t.yaml", {.kubernetes = true});
  ASSERT_TRUE(own.ok());
  EXPECT_EQ(own.cfg->kubernetes->ingress_class, "nginx");
  EXPECT_FALSE(load_string("admin: { listen: 127.0.0.1:9901 }\n", "t.yaml").ok());
}

TEST(loader, kubernetes_status_and_leader_election) {
  const auto r = load_string(R"(kubernetes:
  status: { publish_service: lb-system/lb }
  leader_election: { lease: lb-leader, identity: pod-a, lease_duration: 20s, renew_deadline: 15s, retry_period: 3s }
  events: false
)", "t.yaml");
  ASSERT_TRUE(r.ok()) << r.errors.front().str();
  const auto& k = *r.cfg->kubernetes;
  EXPECT_EQ(k.status.publish_namespace, "lb-system");
  EXPECT_EQ(k.status.publish_name, "lb");
  EXPECT_TRUE(k.status.enabled());
  EXPECT_EQ(k.leader_election.lease_namespace, "");  // lb's own, found at run time
  EXPECT_EQ(k.leader_election.lease_name, "lb-leader");
  EXPECT_EQ(k.leader_election.identity, "pod-a");
  EXPECT_EQ(k.leader_election.lease_duration, std::chrono::seconds(20));
  EXPECT_EQ(k.leader_election.renew_deadline, std::chrono::seconds(15));
  EXPECT_EQ(k.leader_election.retry_period, std::chrono::seconds(3));
  EXPECT_FALSE(k.events);

  const auto fixed = load_string("kubernetes: { status: { addresses: [203.0.113.7, lb.example.com] } }\n", "t.yaml");
  ASSERT_TRUE(fixed.ok());
  EXPECT_EQ(fixed.cfg->kubernetes->status.addresses, (std::vector<std::string>{"203.0.113.7", "lb.example.com"}));
  const auto plain = load_string("kubernetes: {}\n", "t.yaml");
  EXPECT_FALSE(plain.cfg->kubernetes->status.enabled());  // no status written unless asked
  EXPECT_TRUE(plain.cfg->kubernetes->leader_election.lease_name.empty());
  EXPECT_TRUE(plain.cfg->kubernetes->events);

  EXPECT_EQ(errors_of("kubernetes:\n  status: { publish_service: Lb/x_y, addresses: [a b] }\n"),
            (std::vector<std::string>{
                "t.yaml:2:11: invalid 'status': give 'addresses' or 'publish_service', not both",
                "t.yaml:2:30: invalid 'publish_service': expected NAME or NAMESPACE/NAME (lowercase RFC 1123 "
                "names), got \"Lb/x_y\"",
                "t.yaml:2:50: invalid status address: expected an IP or a host name, got \"a b\""}));
  EXPECT_EQ(errors_of("kubernetes:\n  leader_election: { identity: a }\n"),
            (std::vector<std::string>{"t.yaml:2:20: missing required key 'lease' in leader_election"}));
  EXPECT_EQ(errors_of("kubernetes:\n  leader_election: { lease: l, renew_deadline: 15s }\n"),
            (std::vector<std::string>{
                "t.yaml:2:20: invalid 'leader_election': renew_deadline must be shorter than lease_duration"}));
  EXPECT_EQ(errors_of("kubernetes:\n  leader_election: { lease: l, lease_duration: 1500ms }\n"),
            (std::vector<std::string>{"t.yaml:2:20: invalid 'lease_duration': a Lease holds whole seconds"}));
}

TEST(loader, route_allow_from_and_redirect_https) {
  const auto r = load_string(R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    routes:
      - { pool: p, allow_from: [10.0.0.0/8, "2001:db8::/32"], redirect_https: { code: 301 } }
      - { pool: p }
pools: [{name: p, endpoints: [127.0.0.1:9001]}]
)", "t.yaml");
  ASSERT_TRUE(r.ok()) << r.errors.front().str();
  const auto& rt = r.cfg->listeners[0].routes;
  ASSERT_EQ(rt[0].allow_from.size(), 2u);
  EXPECT_EQ(rt[0].allow_from[0].prefix, 8);
  EXPECT_TRUE(rt[0].allow_from[1].v6);
  ASSERT_TRUE(rt[0].redirect_https);
  EXPECT_EQ(rt[0].redirect_https->code, 301u);
  EXPECT_TRUE(rt[1].allow_from.empty());
  EXPECT_FALSE(rt[1].redirect_https);
  EXPECT_EQ(errors_of(R"(listeners:
  - name: web
    listen: 127.0.0.1:8443
    tls: { certificates: [{ cert: a.crt, key: a.key }] }
    routes:
      - { name: r, pool: p, redirect_https: true, allow_from: [10.0.0.1/8] }
pools: [{name: p, endpoints: [127.0.0.1:9001]}]
)"),
            (std::vector<std::string>{
                "t.yaml:6:17: route 'r': 'redirect_https' is for plain listeners: this one has 'tls'",
                "t.yaml:6:64: invalid address block '10.0.0.1/8' (expected an IP address or CIDR such as "
                "10.0.0.0/8, with no host bits set)"}));
}

TEST(loader, route_rewrite) {
  const auto r = load_string(R"y(listeners:
  - name: web
    listen: 127.0.0.1:8080
    routes:
      - { pool: p, rewrite: { regex: "^/api/(.*)", replacement: "/v2/$1" } }
      - { pool: p, max_body_bytes: 8388608 }
pools: [{name: p, endpoints: [127.0.0.1:9001]}]
)y", "t.yaml");
  EXPECT_EQ(r.cfg->listeners[0].routes.at(1).max_body_bytes, 8388608u);
  ASSERT_TRUE(r.ok()) << r.errors.front().str();
  ASSERT_TRUE(r.cfg->listeners[0].routes[0].rewrite);
  EXPECT_EQ(r.cfg->listeners[0].routes[0].max_body_bytes, 0u);
  EXPECT_EQ(r.cfg->listeners[0].routes[0].rewrite->regex, "^/api/(.*)");
  EXPECT_EQ(r.cfg->listeners[0].routes[0].rewrite->replacement, "/v2/$1");
  EXPECT_EQ(errors_of(R"y(listeners:
  - name: web
    listen: 127.0.0.1:8080
    routes:
      - { pool: p, rewrite: { regex: "(", replacement: "v2 x" } }
      - { pool: p, rewrite: { regex: "a" } }
pools: [{name: p, endpoints: [127.0.0.1:9001]}]
)y"),
            (std::vector<std::string>{
                "t.yaml:5:38: invalid rewrite 'regex' '(': missing ): (",
                "t.yaml:5:56: invalid rewrite 'replacement': must start with '/' and hold visible ASCII only, got "
                "\"v2 x\"",
                "t.yaml:6:29: missing required key 'replacement' in rewrite"}));
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
      - pool: web
        match: {cookies: {"a b": x, Beta: "al ways", c: "1", c: "2", d: [1]}}
      - pool: web
        match: {cookies: [Beta]}
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
                "t.yaml:15:27: invalid cookie name \"a b\" in 'cookies'",
                "t.yaml:15:43: invalid value for cookie 'Beta': no spaces, quotes, commas, semicolons, "
                "backslashes or control characters",
                "t.yaml:15:62: duplicate cookie 'c' in 'cookies'",
                "t.yaml:15:73: invalid 'd': expected a string, got a list",
                "t.yaml:17:26: invalid 'cookies': expected a map of cookie names to values, got a list",
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

TEST(loader, hardening_limits) {
  EXPECT_EQ(errors_of(R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    limits:
      max_headers: 0
      max_header_line_bytes: 100
      lingering_timeout: -1s
    routes: [{pool: web}]
pools: [{name: web, endpoints: [127.0.0.1:9001]}]
)").size(),
            3u);
  EXPECT_TRUE(errors_of(R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    limits: {max_headers: 50, max_header_line_bytes: 4096, max_requests_per_connection: 10, lingering_timeout: 0s}
    routes: [{pool: web}]
pools: [{name: web, endpoints: [127.0.0.1:9001]}]
)").empty());
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
