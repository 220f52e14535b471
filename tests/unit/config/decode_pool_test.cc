// Pools as the loader reads them: balancers, hash keys, health checks,
// outlier ejection, retries, endpoints; and the access log.
#include "lb/config/loader.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "load_helpers.h"

namespace lb::config {
namespace {

using namespace std::chrono_literals;
using test_support::errors_of;
using test_support::minimal;

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

}  // namespace
}  // namespace lb::config
