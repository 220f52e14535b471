#include "lb/listener/plane.h"

#include <gtest/gtest.h>

#include "lb/proto/http/connection.h"

namespace lb::listener {
namespace {

TEST(plane, an_http_listener_goes_straight_to_the_http1_plane) {
  config::listener l;
  l.name = "web";
  l.proto = config::protocol::http;
  const auto p = path_for(l);
  EXPECT_EQ(p.plane, &proto::http::start_connection);
  // No stage configured: an accept is one call into the plane, no stage runner.
  EXPECT_TRUE(p.stages.empty());
  EXPECT_EQ(p.start, p.plane);
}

}  // namespace
}  // namespace lb::listener
