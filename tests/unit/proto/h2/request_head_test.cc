// The HTTP/1.1 head an HTTP/2 request becomes (request_head.cc).
#include <gtest/gtest.h>

#include <string>

#include "lb/proto/h2/request_head.h"

namespace lb::proto::h2 {
namespace {

request_fields get(std::vector<header_field> fields) {
  request_fields r;
  r.method = "GET";
  r.scheme = "https";
  r.authority = "example.test";
  r.path = "/a?b=1";
  r.fields = std::move(fields);
  return r;
}

TEST(h2_request_head, authority_becomes_host_and_cookies_are_joined) {
  config::route route;
  std::string out;
  write_upstream_head(out, get({{"cookie", "a=1"}, {"accept", "*/*"}, {"cookie", "b=2"}, {"host", "other"}}),
                      body_framing::none, 0, "10.0.0.1", "https", route);
  EXPECT_EQ(out,
            "GET /a?b=1 HTTP/1.1\r\nhost: example.test\r\naccept: */*\r\ncookie: a=1; b=2\r\n"
            "x-forwarded-for: 10.0.0.1\r\nx-real-ip: 10.0.0.1\r\nx-forwarded-proto: https\r\nvia: 2 lb\r\n\r\n");
}

TEST(h2_request_head, host_field_without_authority_and_framing) {
  config::route route;
  route.set_headers = {{"X-Env", "prod"}};
  auto rq = get({{"host", "h.test"}, {"te", "trailers"}, {"x-forwarded-for", "1.2.3.4"}, {"x-env", "dev"},
                 {"content-length", "5"}});
  rq.authority = {};
  std::string out;
  write_upstream_head(out, rq, body_framing::length, 5, "10.0.0.1", "http", route);
  EXPECT_EQ(out,
            "GET /a?b=1 HTTP/1.1\r\nhost: h.test\r\nx-forwarded-for: 1.2.3.4, 10.0.0.1\r\n"
            "x-real-ip: 10.0.0.1\r\nx-forwarded-proto: http\r\nvia: 2 lb\r\nX-Env: prod\r\ncontent-length: 5\r\n\r\n");
  out.clear();
  write_upstream_head(out, rq, body_framing::chunked, 0, "10.0.0.1", "http", route);
  EXPECT_NE(out.find("transfer-encoding: chunked\r\n\r\n"), std::string::npos);
  EXPECT_EQ(out.find("te:"), std::string::npos);
}

TEST(h2_request_head, trace_fields_as_decided) {
  config::route route;
  http::trace_ids ids;
  ids.request_id = "lb-made";
  ids.own_request_id = true;
  ids.drop_trace = true;  // a malformed traceparent, no `start`: dropped with its tracestate
  std::string out;
  write_upstream_head(out, get({{"x-request-id", "client"}, {"traceparent", "bad"}, {"tracestate", "k=v"}}),
                      body_framing::none, 0, "10.0.0.1", "https", route, &ids);
  EXPECT_EQ(out,
            "GET /a?b=1 HTTP/1.1\r\nhost: example.test\r\n"
            "x-forwarded-for: 10.0.0.1\r\nx-real-ip: 10.0.0.1\r\nx-forwarded-proto: https\r\n"
            "X-Request-Id: lb-made\r\nvia: 2 lb\r\n\r\n");
}

}  // namespace
}  // namespace lb::proto::h2
