// decode_proxy.cc (accept_proxy_protocol, proxy_protocol) and the TCP
// listener keys of decode_listener.cc, through load_string.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "lb/config/loader.h"
#include "lb/config/parse.h"

namespace lb::config {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> errors_of(const std::string& yaml) {
  const auto r = load_string(yaml, "t.yaml");
  std::vector<std::string> out;
  for (const auto& e : r.errors) out.push_back(e.str());
  return out;
}

const std::string pools = R"(pools:
  - name: pg
    endpoints: [127.0.0.1:9002]
)";

TEST(tcp_listener, reads_pool_limits_splice_and_accept_proxy) {
  const auto r = load_string(R"(listeners:
  - name: pg
    listen: 127.0.0.1:5432
    protocol: tcp
    pool: pg
    splice: "off"
    limits: { half_close_timeout: 5s, max_connections: 10 }
    accept_proxy_protocol: { from: [10.0.0.0/8, "2001:db8::/32", 192.0.2.7], timeout: 2s }
)" + pools, "t.yaml");
  ASSERT_TRUE(r.cfg) << (r.errors.empty() ? "" : r.errors[0].str());
  const auto& l = r.cfg->listeners[0];
  EXPECT_EQ(l.proto, protocol::tcp);
  EXPECT_EQ(l.pool, "pg");
  EXPECT_EQ(l.pool_index, 0u);
  EXPECT_FALSE(l.splice);
  EXPECT_EQ(l.limits.half_close_timeout, duration(5s));
  EXPECT_EQ(l.limits.idle_timeout, tcp_default_idle_timeout);  // 1h, not HTTP's 60s
  ASSERT_TRUE(l.accept_proxy);
  EXPECT_EQ(l.accept_proxy->timeout, duration(2s));
  ASSERT_EQ(l.accept_proxy->from.size(), 3u);
  EXPECT_EQ(l.accept_proxy->from[0].prefix, 8);
  EXPECT_TRUE(l.accept_proxy->from[1].v6);
  EXPECT_EQ(l.accept_proxy->from[2].prefix, 32);
}

TEST(tcp_listener, defaults) {
  const auto r = load_string("listeners: [{name: pg, listen: 127.0.0.1:5432, protocol: tcp, pool: pg, "
                             "limits: {idle_timeout: 30s}}]\n" + pools, "t.yaml");
  ASSERT_TRUE(r.cfg);
  const auto& l = r.cfg->listeners[0];
  EXPECT_TRUE(l.splice);
  EXPECT_EQ(l.limits.idle_timeout, duration(30s));  // given: kept
  EXPECT_EQ(l.limits.half_close_timeout, duration(60s));
  EXPECT_FALSE(l.accept_proxy);
  EXPECT_EQ(r.cfg->pools[0].proxy_protocol, proxy_version::none);
}

TEST(tcp_listener, needs_a_known_pool_or_routes) {
  EXPECT_EQ(errors_of("listeners: [{name: pg, listen: 127.0.0.1:5432, protocol: tcp}]\n" + pools),
            (std::vector<std::string>{"t.yaml:1:13: missing required key 'pool' in tcp listener"}));
  EXPECT_EQ(errors_of("listeners: [{name: pg, listen: 127.0.0.1:5432, protocol: tcp, pool: nope}]\n" + pools),
            (std::vector<std::string>{"t.yaml:1:69: listener 'pg' names unknown pool 'nope'"}));
  EXPECT_EQ(errors_of("listeners: [{name: pg, listen: 127.0.0.1:5432, protocol: tcp, pool: pg, routes: [{pool: pg}]}]\n" +
                      pools),
            (std::vector<std::string>{
                "t.yaml:1:82: a tcp route matches by 'sni', 'alpn' or both (the listener's 'pool' takes the rest)"}));
}

TEST(tcp_listener, reads_sni_routes) {
  const auto r = load_string(R"(listeners:
  - name: edge
    listen: 127.0.0.1:8443
    protocol: tcp
    peek_timeout: 2s
    routes:
      - { sni: "*.Example.com", pool: pg }
      - { name: h2, sni: api.example.com., alpn: h2, pool: pg }
      - { alpn: [imap, pop3], pool: pg }
)" + pools, "t.yaml");
  ASSERT_TRUE(r.ok());
  const auto& l = r.cfg->listeners[0];
  ASSERT_EQ(l.tcp_routes.size(), 3u);
  EXPECT_EQ(l.tcp_routes[0].sni.type, host_match::kind::suffix);
  EXPECT_EQ(l.tcp_routes[0].sni.value, ".example.com");
  EXPECT_EQ(l.tcp_routes[1].name, "h2");
  EXPECT_EQ(l.tcp_routes[1].sni.value, "api.example.com");
  EXPECT_EQ(l.tcp_routes[1].alpn, std::vector<std::string>{"h2"});
  EXPECT_EQ(l.tcp_routes[2].alpn, (std::vector<std::string>{"imap", "pop3"}));
  EXPECT_EQ(l.peek_timeout, duration(2s));
  EXPECT_EQ(l.non_tls, non_tls_action::close);
  EXPECT_TRUE(l.peek_sni);
  EXPECT_TRUE(l.pool.empty());
}

TEST(tcp_listener, refuses_bad_sni_routes) {
  EXPECT_EQ(errors_of("listeners: [{name: e, listen: 127.0.0.1:1, protocol: tcp, routes: [{sni: 'www.*', pool: pg}]}]\n" + pools),
            (std::vector<std::string>{"t.yaml:1:74: invalid sni 'www.*': expected a name or '*.example.com'"}));
  EXPECT_EQ(errors_of("listeners: [{name: e, listen: 127.0.0.1:1, protocol: tcp, routes: [{sni: a.b, pool: nope}]}]\n" + pools),
            (std::vector<std::string>{"t.yaml:1:85: route 'route0' names unknown pool 'nope'"}));
  EXPECT_EQ(errors_of("listeners: [{name: e, listen: 127.0.0.1:1, protocol: tcp, non_tls: pool, routes: [{sni: a.b, pool: pg}]}]\n" + pools),
            (std::vector<std::string>{"t.yaml:1:59: 'non_tls: pool' needs the listener's default 'pool'"}));
}

TEST(tcp_listener, tcp_keys_on_an_http_listener_are_errors) {
  EXPECT_EQ(errors_of(R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    pool: pg
    splice: auto
    limits: { half_close_timeout: 5s }
    routes: [{pool: pg}]
)" + pools),
            (std::vector<std::string>{
                "t.yaml:4:5: 'pool' applies only to 'protocol: tcp' listeners",
                "t.yaml:5:5: 'splice' applies only to 'protocol: tcp' listeners",
                "t.yaml:6:35: 'half_close_timeout' applies only to 'protocol: tcp' listeners",
            }));
}

TEST(accept_proxy, bad_blocks_and_missing_from) {
  EXPECT_EQ(errors_of(R"(listeners:
  - name: pg
    listen: 127.0.0.1:5432
    protocol: tcp
    pool: pg
    accept_proxy_protocol: { from: [10.0.0.1/8, 10.0.0.0/33, example.com, "::1/129"] }
  - name: pg2
    listen: 127.0.0.1:5433
    protocol: tcp
    pool: pg
    accept_proxy_protocol: { timeout: 1s }
)" + pools),
            (std::vector<std::string>{
                "t.yaml:6:37: invalid address block '10.0.0.1/8' (expected an IP address or CIDR such as "
                "10.0.0.0/8, with no host bits set)",
                "t.yaml:6:49: invalid address block '10.0.0.0/33' (expected an IP address or CIDR such as "
                "10.0.0.0/8, with no host bits set)",
                "t.yaml:6:62: invalid address block 'example.com' (expected an IP address or CIDR such as "
                "10.0.0.0/8, with no host bits set)",
                "t.yaml:6:75: invalid address block '::1/129' (expected an IP address or CIDR such as "
                "10.0.0.0/8, with no host bits set)",
                "t.yaml:11:28: missing required key 'from' in accept_proxy_protocol",
            }));
}

TEST(proxy_protocol, pool_versions_and_http_routes_refused) {
  auto r = load_string("listeners: [{name: pg, listen: 127.0.0.1:5432, protocol: tcp, pool: pg}]\n"
                       "pools: [{name: pg, endpoints: [127.0.0.1:9002], proxy_protocol: v2}]\n",
                       "t.yaml");
  ASSERT_TRUE(r.cfg);
  EXPECT_EQ(r.cfg->pools[0].proxy_protocol, proxy_version::v2);
  EXPECT_EQ(errors_of("listeners: [{name: pg, listen: 127.0.0.1:5432, protocol: tcp, pool: pg}]\n"
                      "pools: [{name: pg, endpoints: [127.0.0.1:9002], proxy_protocol: v3}]\n"),
            (std::vector<std::string>{"t.yaml:2:65: unknown proxy_protocol 'v3' (expected one of: v1, v2)"}));
  EXPECT_EQ(errors_of("listeners: [{name: web, listen: 127.0.0.1:8080, routes: [{pool: pg}]}]\n"
                      "pools: [{name: pg, endpoints: [127.0.0.1:9002], proxy_protocol: v1}]\n"),
            (std::vector<std::string>{"t.yaml:1:65: route 'route0' sends HTTP to pool 'pg', which has "
                                      "'proxy_protocol' (only tcp listeners may use it)"}));
}

TEST(parse_cidr, reads_blocks_and_refuses_host_bits) {
  const auto c = parse_cidr("192.168.0.0/16");
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->v6);
  EXPECT_EQ(c->prefix, 16);
  EXPECT_EQ(c->bytes[0], 192);
  EXPECT_EQ(c->bytes[1], 168);
  EXPECT_EQ(parse_cidr("0.0.0.0/0")->prefix, 0);
  EXPECT_EQ(parse_cidr("::/0")->prefix, 0);
  EXPECT_EQ(parse_cidr("2001:db8::1")->prefix, 128);
  for (const char* bad : {"", "/8", "10.0.0.0/", "10.0.0.0/x", "10.0.0.1/24", "10.0.0.0/33", "2001:db8::/129",
                          "10.0.0.0/-1", "host/8"})
    EXPECT_FALSE(parse_cidr(bad)) << bad;
}

}  // namespace
}  // namespace lb::config
