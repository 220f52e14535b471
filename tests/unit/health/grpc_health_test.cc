// The gRPC health protocol's two messages as the HTTP/2 probe writes and reads them.
#include <gtest/gtest.h>

#include <string>

#include "lb/health/h2_probe.h"

namespace lb::health::detail {
namespace {

using namespace std::string_literals;

TEST(grpc_health, request_frames_the_service_name) {
  EXPECT_EQ(grpc_health_request(""), "\0\0\0\0\0"s);  // the server as a whole: an empty message
  EXPECT_EQ(grpc_health_request("a.B"), "\0\0\0\0\x05\x0a\x03"s "a.B");
  const std::string long_name(200, 'x');  // a two-byte length varint
  EXPECT_EQ(grpc_health_request(long_name), "\0\0\0\0\xcb\x0a\xc8\x01"s + long_name);
}

TEST(grpc_health, response_status) {
  EXPECT_EQ(grpc_serving_status("\0\0\0\0\x02\x08\x01"s), 1);  // SERVING
  EXPECT_EQ(grpc_serving_status("\0\0\0\0\x02\x08\x02"s), 2);  // NOT_SERVING
  EXPECT_EQ(grpc_serving_status("\0\0\0\0\0"s), 0);            // proto3 default: UNKNOWN
  // Unknown fields of every wire type are skipped.
  EXPECT_EQ(grpc_serving_status("\0\0\0\0\x06\x12\x02hi\x08\x01"s), 1);                       // length-delimited
  EXPECT_EQ(grpc_serving_status("\0\0\0\0\x0b\x19" "12345678" "\x08\x02"s), 2);                // fixed64
  EXPECT_EQ(grpc_serving_status("\0\0\0\0\x07\x25" "1234" "\x08\x01"s), 1);                    // fixed32
  EXPECT_EQ(grpc_serving_status("\0\0\0\0\x04\x10\x07\x08\x03"s), 3);                         // varint
}

TEST(grpc_health, malformed_responses_are_not_serving) {
  EXPECT_EQ(grpc_serving_status(""), -1);
  EXPECT_EQ(grpc_serving_status("\x01\0\0\0\x02\x08\x01"s), -1);  // compressed
  EXPECT_EQ(grpc_serving_status("\0\0\0\0\x02\x08"s), -1);        // truncated
  EXPECT_EQ(grpc_serving_status("\0\0\0\0\x02\x08\xff"s), -1);    // varint runs off the end
  EXPECT_EQ(grpc_serving_status("\0\0\0\0\x01\x0f"s), -1);        // wire type 7
  EXPECT_EQ(grpc_serving_status("\0\0\0\0\x0b\x08\x01"s), -1);    // the length says more than came
  EXPECT_EQ(grpc_serving_status("\0\0\0\0\x03\x12\x05h"s), -1);   // a field longer than the message
}

}  // namespace
}  // namespace lb::health::detail
