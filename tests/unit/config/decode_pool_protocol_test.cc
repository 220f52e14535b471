// A pool's `protocol` (h1, h2, h2c), `max_concurrent_streams` and the grpc
// health check, through load_string.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "lb/config/loader.h"

namespace lb::config {
namespace {

std::vector<std::string> errors_of(const std::string& yaml) {
  const auto r = load_string(yaml, "t.yaml");
  std::vector<std::string> out;
  for (const auto& e : r.errors) out.push_back(e.str());
  return out;
}

const std::string http_listener = R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    routes: [{pool: p}]
)";

TEST(pool_protocol, defaults_to_http1) {
  const auto r = load_string(http_listener + "pools: [{name: p, endpoints: [127.0.0.1:9001]}]\n", "t.yaml");
  ASSERT_TRUE(r.cfg);
  EXPECT_EQ(r.cfg->pools[0].protocol, upstream_protocol::h1);
  EXPECT_EQ(r.cfg->pools[0].max_concurrent_streams, 100u);
}

TEST(pool_protocol, reads_h2c_h2_and_the_stream_cap) {
  const auto r = load_string(http_listener + R"(pools:
  - name: p
    protocol: h2c
    max_concurrent_streams: 8
    endpoints: [127.0.0.1:9001]
    health_check: {type: grpc, service: echo.Echo, host: grpc.internal}
  - name: q
    protocol: h2
    tls: true
    endpoints: [127.0.0.1:9002]
)", "t.yaml");
  ASSERT_TRUE(r.cfg) << (r.errors.empty() ? "" : r.errors[0].str());
  const auto& p = r.cfg->pools[0];
  EXPECT_EQ(p.protocol, upstream_protocol::h2c);
  EXPECT_EQ(p.max_concurrent_streams, 8u);
  ASSERT_TRUE(p.health_check);
  EXPECT_EQ(p.health_check->type, health_check::kind::grpc);
  EXPECT_EQ(p.health_check->service, "echo.Echo");
  EXPECT_EQ(p.health_check->host, "grpc.internal");
  EXPECT_EQ(r.cfg->pools[1].protocol, upstream_protocol::h2);
}

TEST(pool_protocol, names_what_is_wrong_and_where) {
  EXPECT_EQ(errors_of(http_listener + R"(pools:
  - name: p
    protocol: http3
    endpoints: [127.0.0.1:9001]
  - name: q
    protocol: h2
    endpoints: [127.0.0.1:9002]
  - name: r
    protocol: h2c
    tls: true
    endpoints: [127.0.0.1:9003]
  - name: s
    max_concurrent_streams: 0
    protocol: h2c
    endpoints: [127.0.0.1:9004]
  - name: t
    max_concurrent_streams: 10
    endpoints: [127.0.0.1:9005]
  - name: u
    endpoints: [127.0.0.1:9006]
    health_check: {type: grpc}
  - name: v
    protocol: h2c
    endpoints: [127.0.0.1:9007]
    health_check: {type: grpc, path: /x, expect_status: 200}
  - name: w
    endpoints: [127.0.0.1:9008]
    health_check: {service: x}
)"),
            (std::vector<std::string>{
                "t.yaml:7:15: unknown protocol 'http3' (expected one of: h1, h2, h2c)",
                "t.yaml:10:15: 'protocol: h2' is HTTP/2 over TLS, but this pool has no 'tls' (add 'tls:', or use "
                "'h2c' for HTTP/2 in the clear)",
                "t.yaml:13:15: 'protocol: h2c' is HTTP/2 in the clear, but this pool has 'tls' (use 'h2')",
                "t.yaml:17:29: invalid 'max_concurrent_streams': expected an integer from 1 to 10000, got \"0\"",
                "t.yaml:21:5: 'max_concurrent_streams' applies only to HTTP/2 pools ('protocol: h2' or 'h2c')",
                "t.yaml:25:5: grpc health checks speak HTTP/2: this pool needs 'protocol: h2' or 'h2c'",
                "t.yaml:29:32: 'path' applies only to http health checks, and this one is type 'grpc'",
                "t.yaml:29:42: 'expect_status' applies only to http health checks, and this one is type 'grpc'",
                "t.yaml:32:20: 'service' applies only to grpc health checks, and this one is type 'http'",
            }));
}

TEST(pool_protocol, tcp_listeners_refuse_http2_pools) {
  EXPECT_EQ(errors_of(R"(listeners:
  - name: pg
    listen: 127.0.0.1:5432
    protocol: tcp
    pool: p
pools:
  - name: p
    protocol: h2c
    endpoints: [127.0.0.1:9001]
)"),
            (std::vector<std::string>{"t.yaml:5:11: listener 'pg' forwards TCP to pool 'p', whose 'protocol: h2c' "
                                      "only HTTP routes may use"}));
}

}  // namespace
}  // namespace lb::config
