// Routes and limits as the loader reads them: allow_from, redirects,
// rewrites, matches, header edits, limit ranges, hardening limits.
#include "lb/config/loader.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "load_helpers.h"

namespace lb::config {
namespace {

using namespace std::chrono_literals;
using test_support::errors_of;

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

}  // namespace
}  // namespace lb::config
