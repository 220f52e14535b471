// decode_client_limits.cc: a listener's `client_limits:`, through load_string.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/unit/config/load_helpers.h"

namespace lb::config {
namespace {

using test_support::errors_of;

const std::string pools = R"(pools:
  - name: web
    endpoints: [127.0.0.1:9001]
)";

TEST(client_limits, reads_every_key) {
  const auto r = load_string(R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    routes: [{pool: web}]
    client_limits:
      connections: 10
      connections_per_second: 5
      requests_per_second: 20
      burst: 40
      allowlist: [127.0.0.2, "10.0.0.0/8", "2001:db8::/32"]
      table_size: 1024
  - name: plain
    listen: 127.0.0.1:8081
    routes: [{pool: web}]
    client_limits: { requests_per_second: 7 }
)" + pools, "t.yaml");
  ASSERT_TRUE(r.cfg) << (r.errors.empty() ? "" : r.errors[0].str());
  const auto& c = *r.cfg->listeners[0].client_limits;
  EXPECT_EQ(c.connections, 10u);
  EXPECT_EQ(c.connections_per_second, 5u);
  EXPECT_EQ(c.requests_per_second, 20u);
  EXPECT_EQ(c.burst, 40u);
  ASSERT_EQ(c.allowlist.size(), 3u);
  EXPECT_EQ(c.allowlist[0].prefix, 32);
  EXPECT_TRUE(c.allowlist[2].v6);
  EXPECT_EQ(c.table_size, 1024u);
  const auto& d = *r.cfg->listeners[1].client_limits;
  EXPECT_EQ(d.burst, 7u);  // defaults to one second's worth
  EXPECT_EQ(d.connections, 0u);
  EXPECT_EQ(d.table_size, 16384u);
  EXPECT_FALSE(r.cfg->listeners[0].accept_proxy);
}

TEST(client_limits, errors_name_file_line_and_column) {
  EXPECT_EQ(errors_of(R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    routes: [{pool: web}]
    client_limits: { connections: -1, burst: 3, table_size: 8, allowlist: [10.0.0.1/8], bogus: 1 }
  - name: pg
    listen: 127.0.0.1:5432
    protocol: tcp
    pool: web
    client_limits: { connections: 2, requests_per_second: 3 }
)" + pools),
            (std::vector<std::string>{
                "t.yaml:5:35: invalid 'connections': expected an integer >= 0, got \"-1\"",
                "t.yaml:5:39: 'burst' needs 'requests_per_second' (it is the request bucket's size)",
                "t.yaml:5:61: invalid 'table_size': expected an integer from 16 to 16777216, got \"8\"",
                "t.yaml:5:76: invalid address block '10.0.0.1/8' (expected an IP address or CIDR such as "
                "10.0.0.0/8, with no host bits set)",
                "t.yaml:5:89: unknown key 'bogus' in client_limits (expected one of: connections, "
                "connections_per_second, requests_per_second, burst, allowlist, table_size)",
                "t.yaml:10:59: 'requests_per_second' applies only to HTTP listeners (a TCP listener has no requests)",
            }));
}

TEST(route_client_limits, reads_every_key_and_burst_defaults_to_the_rate) {
  const auto r = load_string(R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    routes:
      - pool: web
        client_limits: {requests_per_second: 5, burst: 25, concurrent_requests: 3, allowlist: [10.0.0.0/8],
                        table_size: 64}
      - pool: web
        client_limits: {requests_per_second: 7}
      - pool: web
)" + pools, "t.yaml");
  ASSERT_TRUE(r.cfg) << r.errors.front().str();
  const auto& routes = r.cfg->listeners[0].routes;
  ASSERT_TRUE(routes[0].client_limits);
  EXPECT_EQ(routes[0].client_limits->requests_per_second, 5u);
  EXPECT_EQ(routes[0].client_limits->burst, 25u);
  EXPECT_EQ(routes[0].client_limits->concurrent_requests, 3u);
  EXPECT_EQ(routes[0].client_limits->allowlist.size(), 1u);
  EXPECT_EQ(routes[0].client_limits->table_size, 64u);
  EXPECT_EQ(routes[1].client_limits->burst, 7u);
  EXPECT_EQ(routes[1].client_limits->concurrent_requests, 0u);
  EXPECT_FALSE(routes[2].client_limits);
}

TEST(route_client_limits, names_what_is_wrong_and_where) {
  EXPECT_EQ(errors_of(R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    routes:
      - pool: web
        client_limits: {burst: 4}
      - pool: web
        client_limits: {}
      - pool: web
        client_limits: {concurrent_requests: -1, allowlist: [10.0.0.1/8], connections: 2}
)" + pools),
            (std::vector<std::string>{
                "t.yaml:6:25: 'burst' needs 'requests_per_second' (it is the request bucket's size)",
                "t.yaml:8:24: a route's 'client_limits' needs 'requests_per_second' or 'concurrent_requests'",
                "t.yaml:10:46: invalid 'concurrent_requests': expected an integer from 0 to 1000000000, got \"-1\"",
                "t.yaml:10:62: invalid address block '10.0.0.1/8' (expected an IP address or CIDR such as "
                "10.0.0.0/8, with no host bits set)",
                "t.yaml:10:75: unknown key 'connections' in client_limits (expected one of: requests_per_second, "
                "burst, concurrent_requests, allowlist, table_size)",
            }));
}

}  // namespace
}  // namespace lb::config
