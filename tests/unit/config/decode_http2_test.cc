// `protocols:` and `http2:` on a listener (decode_listener.cc,
// decode_http2.cc) and ALPN h2 (decode_tls.cc), through load_string.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "tests/unit/config/load_helpers.h"

namespace lb::config {
namespace {

using namespace std::chrono_literals;
using test_support::errors_of;

const std::string pools = R"(pools:
  - name: web
    endpoints: [127.0.0.1:9001]
)";

TEST(http2_config, defaults_are_http1_only_with_safe_limits) {
  const auto r = load_string(test_support::minimal, "t.yaml");
  ASSERT_TRUE(r.cfg);
  const auto& l = r.cfg->listeners[0];
  EXPECT_TRUE(l.h1);
  EXPECT_FALSE(l.h2);
  EXPECT_EQ(l.http2.max_concurrent_streams, 100u);
  EXPECT_EQ(l.http2.max_continuations, 8u);
  EXPECT_EQ(l.http2.stall_timeout, 30s);
}

TEST(http2_config, reads_protocols_and_limits) {
  const auto r = load_string(R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    protocols: [h2]
    http2: { max_concurrent_streams: 10, reset_burst: 50, resets_per_second: 5, max_continuations: 2,
             max_header_fields: 20, control_frame_budget: 100, control_frames_per_request: 1,
             initial_window_size: 1048576, stall_timeout: 5s }
    routes:
      - pool: web
)" + pools, "t.yaml");
  ASSERT_TRUE(r.cfg) << r.errors[0].str();
  const auto& l = r.cfg->listeners[0];
  EXPECT_FALSE(l.h1);
  EXPECT_TRUE(l.h2);
  EXPECT_EQ(l.http2.max_concurrent_streams, 10u);
  EXPECT_EQ(l.http2.reset_burst, 50u);
  EXPECT_EQ(l.http2.resets_per_second, 5u);
  EXPECT_EQ(l.http2.max_continuations, 2u);
  EXPECT_EQ(l.http2.max_header_fields, 20u);
  EXPECT_EQ(l.http2.control_frame_budget, 100u);
  EXPECT_EQ(l.http2.control_frames_per_request, 1u);
  EXPECT_EQ(l.http2.initial_window_size, 1048576u);
  EXPECT_EQ(l.http2.stall_timeout, 5s);
}

TEST(http2_config, bad_values_are_reported_where_they_are) {
  auto errs = errors_of(R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    protocols: [h3]
    http2: { max_concurrent_streams: 0, nope: 1 }
    routes:
      - pool: web
)" + pools);
  ASSERT_GE(errs.size(), 3u);
  EXPECT_NE(errs[0].find("t.yaml:4:17: unknown HTTP version 'h3'"), std::string::npos) << errs[0];
  for (std::size_t i = 1; i < errs.size(); ++i) EXPECT_NE(errs[i].find("t.yaml:"), std::string::npos) << errs[i];
  errs = errors_of(R"(listeners:
  - name: pg
    listen: 127.0.0.1:5432
    protocol: tcp
    pool: web
    protocols: [h2]
)" + pools);
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_NE(errs[0].find("'protocols' applies only to HTTP listeners"), std::string::npos) << errs[0];
}

}  // namespace
}  // namespace lb::config
