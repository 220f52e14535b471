// A pool's `affinity:` cookie and a route's `send_timeout`, through load_string.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "lb/config/loader.h"
#include "tests/unit/config/load_helpers.h"

namespace lb::config {
namespace {

using test_support::errors_of;

const std::string http_listener = R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    routes: [{pool: p, timeout: 20s, send_timeout: 3s}]
)";

TEST(pool_affinity, absent_by_default_and_send_timeout_follows_timeout) {
  const auto r = load_string(test_support::minimal, "t.yaml");
  ASSERT_TRUE(r.cfg);
  EXPECT_FALSE(r.cfg->pools[0].affinity);
  const auto& route = r.cfg->listeners[0].routes[0];
  EXPECT_EQ(route.write_timeout(), route.timeout);
}

TEST(pool_affinity, reads_the_cookie_and_its_attributes) {
  const auto r = load_string(http_listener + R"(pools:
  - name: p
    endpoints: [127.0.0.1:9001]
    affinity:
      cookie: SRV
      path: /app
      domain: .example.com
      max_age: 2h
      secure: true
      http_only: false
      same_site: None
)", "t.yaml");
  ASSERT_TRUE(r.cfg) << (r.errors.empty() ? "" : r.errors[0].str());
  const auto& a = r.cfg->pools[0].affinity;
  ASSERT_TRUE(a);
  EXPECT_EQ(a->name, "SRV");
  EXPECT_EQ(a->path, "/app");
  EXPECT_EQ(a->domain, "example.com");
  EXPECT_EQ(a->max_age, std::chrono::hours(2));
  EXPECT_TRUE(a->secure);
  EXPECT_FALSE(a->http_only);
  EXPECT_EQ(a->same_site, "None");
  EXPECT_EQ(r.cfg->listeners[0].routes[0].write_timeout(), std::chrono::seconds(3));
  EXPECT_EQ(r.cfg->listeners[0].routes[0].timeout, std::chrono::seconds(20));
}

TEST(pool_affinity, defaults_to_a_session_cookie_on_slash) {
  const auto r = load_string(http_listener + "pools: [{name: p, endpoints: [127.0.0.1:9001], affinity: {cookie: S}}]\n",
                             "t.yaml");
  ASSERT_TRUE(r.cfg);
  const auto& a = *r.cfg->pools[0].affinity;
  EXPECT_EQ(a.path, "/");
  EXPECT_EQ(a.max_age.count(), 0);
  EXPECT_FALSE(a.secure);
  EXPECT_TRUE(a.http_only);
  EXPECT_EQ(a.same_site, "");
}

TEST(pool_affinity, names_what_is_wrong_and_where) {
  EXPECT_EQ(errors_of(http_listener + R"(pools:
  - name: p
    endpoints: [127.0.0.1:9001]
    affinity: {path: /}
  - name: q
    endpoints: [127.0.0.1:9002]
    affinity: {cookie: "a b", path: "x", domain: "-bad-", max_age: 500ms, same_site: always, secure: yes}
  - name: r
    endpoints: [127.0.0.1:9003]
    affinity: {cookie: S, same_site: none}
)"),
            (std::vector<std::string>{
                "t.yaml:8:15: missing required key 'cookie' in affinity",
                "t.yaml:11:24: invalid cookie name 'a b' (expected a token)",
                "t.yaml:11:37: invalid cookie path 'x' (expected '/' then visible characters, no ';')",
                "t.yaml:11:50: invalid cookie domain '-bad-' (expected a host name)",
                "t.yaml:11:68: 'max_age' is whole seconds in the cookie: at least 1s (0: a session cookie)",
                "t.yaml:11:86: invalid 'same_site' 'always' (expected one of: strict, lax, none)",
                "t.yaml:11:102: invalid 'secure': expected true or false, got 'yes'",
                "t.yaml:14:27: 'same_site: none' needs 'secure: true' (browsers drop it otherwise)",
            }));
}

TEST(pool_affinity, tcp_listeners_refuse_affinity_pools) {
  EXPECT_EQ(errors_of(R"(listeners:
  - name: pg
    listen: 127.0.0.1:5432
    protocol: tcp
    pool: p
pools:
  - name: p
    endpoints: [127.0.0.1:9001]
    affinity: {cookie: S}
)"),
            (std::vector<std::string>{"t.yaml:5:11: listener 'pg' forwards TCP to pool 'p', whose 'affinity' cookie "
                                      "only HTTP routes may use"}));
}

}  // namespace
}  // namespace lb::config
