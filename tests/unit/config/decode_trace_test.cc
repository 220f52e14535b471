// decode_trace.cc: a listener's `request_id:` and `tracing:`, through
// load_string (so the FILE:LINE:COL of each mistake is checked too).
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

std::string listener_with(const std::string& extra, const std::string& route_extra = "") {
  return R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    routes:
      - pool: p
)" + route_extra + extra +
         R"(pools:
  - name: p
    endpoints: [127.0.0.1:9000]
)";
}

TEST(decode_trace, off_by_default) {
  const auto r = load_string(listener_with(""), "t.yaml");
  ASSERT_TRUE(r.cfg);
  EXPECT_FALSE(r.cfg->listeners[0].request_id.enabled);
  EXPECT_FALSE(r.cfg->listeners[0].tracing.enabled);
}

TEST(decode_trace, reads_request_id_and_tracing) {
  const auto r = load_string(listener_with(R"(    request_id: { trust_from: [10.0.0.0/8, "::1"] }
    tracing: { start: true, sampled: false }
)"),
                             "t.yaml");
  ASSERT_TRUE(r.cfg) << (r.errors.empty() ? "" : r.errors[0].str());
  const auto& l = r.cfg->listeners[0];
  EXPECT_TRUE(l.request_id.enabled);
  ASSERT_EQ(l.request_id.trust_from.size(), 2u);
  EXPECT_EQ(l.request_id.trust_from[0].prefix, 8);
  EXPECT_TRUE(l.request_id.trust_from[1].v6);
  EXPECT_TRUE(l.tracing.enabled);
  EXPECT_TRUE(l.tracing.start);
  EXPECT_FALSE(l.tracing.sampled);
}

TEST(decode_trace, short_forms) {
  auto r = load_string(listener_with("    request_id: true\n    tracing: {}\n"), "t.yaml");
  ASSERT_TRUE(r.cfg);
  EXPECT_TRUE(r.cfg->listeners[0].request_id.enabled);
  EXPECT_TRUE(r.cfg->listeners[0].request_id.trust_from.empty());
  EXPECT_TRUE(r.cfg->listeners[0].tracing.enabled);
  EXPECT_FALSE(r.cfg->listeners[0].tracing.start);
  EXPECT_TRUE(r.cfg->listeners[0].tracing.sampled);
  r = load_string(listener_with("    request_id: {}\n"), "t.yaml");
  ASSERT_TRUE(r.cfg);
  EXPECT_TRUE(r.cfg->listeners[0].request_id.enabled);
  r = load_string(listener_with("    request_id: false\n"), "t.yaml");
  ASSERT_TRUE(r.cfg);
  EXPECT_FALSE(r.cfg->listeners[0].request_id.enabled);
}

TEST(decode_trace, mistakes_are_reported_at_their_place) {
  EXPECT_EQ(errors_of(listener_with("    request_id: { trust_from: [10.0.0.1/8] }\n")),
            std::vector<std::string>{"t.yaml:6:32: invalid address block '10.0.0.1/8' (expected an IP address or "
                                     "CIDR such as 10.0.0.0/8, with no host bits set)"});
  EXPECT_EQ(errors_of(listener_with("    request_id: maybe\n")),
            std::vector<std::string>{"t.yaml:6:17: invalid 'request_id': expected true or false, got 'maybe'"});
  EXPECT_EQ(errors_of(listener_with("    tracing: { start: yes }\n")),
            std::vector<std::string>{"t.yaml:6:23: invalid 'start': expected true or false, got 'yes'"});
  const auto unknown = errors_of(listener_with("    tracing: { begin: true }\n"));
  ASSERT_EQ(unknown.size(), 1u);
  EXPECT_EQ(unknown[0].rfind("t.yaml:6:16: ", 0), 0u) << unknown[0];
  EXPECT_NE(unknown[0].find("begin"), std::string::npos) << unknown[0];
}

TEST(decode_trace, set_headers_must_not_write_the_same_fields) {
  EXPECT_EQ(errors_of(listener_with("    request_id: true\n", "        set_headers: { X-Request-ID: fixed }\n")),
            std::vector<std::string>{"t.yaml:7:5: route 'route0' sets 'x-request-id' in set_headers, which "
                                     "'request_id' writes on this listener"});
  EXPECT_EQ(errors_of(listener_with("    tracing: {}\n", "        set_headers: { tracestate: x }\n")),
            std::vector<std::string>{"t.yaml:7:5: route 'route0' sets 'tracestate' in set_headers, which "
                                     "'tracing' writes on this listener"});
  // Without the feature the route may set them.
  EXPECT_TRUE(errors_of(listener_with("", "        set_headers: { X-Request-Id: fixed }\n")).empty());
}

TEST(decode_trace, refused_on_tcp_listeners) {
  const auto e = errors_of(R"(listeners:
  - name: t
    listen: 127.0.0.1:5432
    protocol: tcp
    pool: p
    request_id: true
    tracing: { start: true }
pools:
  - name: p
    endpoints: [127.0.0.1:9000]
)");
  EXPECT_EQ(e, (std::vector<std::string>{"t.yaml:6:5: 'request_id' applies only to HTTP listeners",
                                         "t.yaml:7:5: 'tracing' applies only to HTTP listeners"}));
}

}  // namespace
}  // namespace lb::config
