#include "lb/proto/http/request_policy.h"

#include <gtest/gtest.h>

#include <string>

#include "parsed_request.h"

namespace lb::proto::http {
namespace {

namespace bhttp = boost::beast::http;

using test_support::parsed_request;
using test_support::parsed_response;

bool acceptable_head(const std::string& head) {
  parsed_request r(head);
  EXPECT_TRUE(r.header_done) << head;
  return check_request(r.msg(), r.p.chunked()) == request_check::ok;
}

TEST(request_policy, accepts_origin_form_requests_with_one_host) {
  EXPECT_TRUE(acceptable_head("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_TRUE(acceptable_head("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_TRUE(acceptable_head("GET / HTTP/1.0\r\n\r\n"));  // 1.0 needs no Host
}

TEST(request_policy, refuses_what_a_proxy_must_not_forward) {
  EXPECT_FALSE(acceptable_head("GET / HTTP/1.1\r\n\r\n"));                          // no Host
  EXPECT_FALSE(acceptable_head("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"));    // two
  EXPECT_FALSE(acceptable_head("GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n"));       // absolute form
  EXPECT_FALSE(acceptable_head("GET * HTTP/1.1\r\nHost: x\r\n\r\n"));               // * is OPTIONS only
  // A Transfer-Encoding not decoded as chunked: the length is ambiguous.
  EXPECT_FALSE(acceptable_head("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"));
  EXPECT_TRUE(acceptable_head("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"));
}

TEST(request_policy, host_values) {
  for (const char* ok : {"", "example.com", "example.com:8080", "[::1]:80", "[2001:db8::1]", "127.0.0.1", "a_b~c%41"})
    EXPECT_TRUE(valid_host(ok)) << ok;
  for (const char* bad : {"a b", "x/y", "u@x", "[::1", "[]", "x:port", "x:80:80", "x,y", "x:", "x:99999", "[::1]x"})
    EXPECT_FALSE(valid_host(bad)) << bad;
}

TEST(request_policy, transfer_codings_lb_would_relabel_are_501) {
  parsed_request r("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
  EXPECT_EQ(check_request(r.msg(), r.p.chunked()), request_check::not_implemented);
  parsed_request twice("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n");
  EXPECT_EQ(check_request(twice.msg(), twice.p.chunked()), request_check::bad);
  parsed_request old("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_EQ(check_request(old.msg(), old.p.chunked()), request_check::bad);
  parsed_request connect("CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n");
  EXPECT_EQ(check_request(connect.msg(), connect.p.chunked()), request_check::not_implemented);
}

// Every field the checks ask about, each once, twice, and spread over
// fields in an order that matters.
TEST(request_policy, each_framing_field_once_and_in_order) {
  // One Content-Length of one value.
  EXPECT_TRUE(acceptable_head("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n"));
  EXPECT_FALSE(acceptable_head("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\n"));
  // Max-Forwards, read for OPTIONS and TRACE only: digits, once.
  EXPECT_TRUE(acceptable_head("OPTIONS * HTTP/1.1\r\nHost: x\r\nMax-Forwards: 3\r\n\r\n"));
  EXPECT_FALSE(acceptable_head("OPTIONS * HTTP/1.1\r\nHost: x\r\nMax-Forwards: three\r\n\r\n"));
  EXPECT_FALSE(acceptable_head("TRACE / HTTP/1.1\r\nHost: x\r\nMax-Forwards: 1\r\nMax-Forwards: 2\r\n\r\n"));
  EXPECT_TRUE(acceptable_head("GET / HTTP/1.1\r\nHost: x\r\nMax-Forwards: three\r\n\r\n"));
  // The Host field found wherever it is, and only one.
  EXPECT_TRUE(acceptable_head("GET / HTTP/1.1\r\nAccept: */*\r\nhOsT: x\r\n\r\n"));
  EXPECT_FALSE(acceptable_head("GET / HTTP/1.1\r\nHost: x\r\nAccept: */*\r\nHost: x\r\n\r\n"));
  EXPECT_FALSE(acceptable_head("GET / HTTP/1.1\r\nAccept: */*\r\nHost: a b\r\n\r\n"));
  // Codings over two fields are one list, in field order: chunked after
  // gzip is a coding lb would relabel (501). (Beast itself refuses chunked
  // before another coding, or twice over two fields.)
  parsed_request last("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nAccept: */*\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n");
  ASSERT_TRUE(last.header_done);
  EXPECT_EQ(check_request(last.msg(), last.p.chunked()), request_check::not_implemented);
  parsed_request one("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nHost: x\r\n\r\n");
  EXPECT_EQ(check_request(one.msg(), one.p.chunked()), request_check::ok);
}

bool acceptable_response(const std::string& head) {
  parsed_response r(head);
  EXPECT_TRUE(r.header_done) << head;
  return response_acceptable(r.msg(), r.p.chunked());
}

TEST(request_policy, responses_with_one_length_or_chunked_are_relayed) {
  EXPECT_TRUE(acceptable_response("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"));
  EXPECT_TRUE(acceptable_response("HTTP/1.1 200 OK\r\nServer: s\r\nTransfer-Encoding: chunked\r\n\r\n"));
  EXPECT_TRUE(acceptable_response("HTTP/1.0 200 OK\r\n\r\n"));  // ends with the connection
  EXPECT_FALSE(acceptable_response("HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\n"));
  EXPECT_FALSE(acceptable_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"));
  EXPECT_FALSE(acceptable_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"));
  EXPECT_FALSE(acceptable_response("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"));
}

TEST(request_policy, idempotent_methods) {
  for (auto v : {bhttp::verb::get, bhttp::verb::head, bhttp::verb::put, bhttp::verb::delete_, bhttp::verb::options,
                 bhttp::verb::trace})
    EXPECT_TRUE(is_idempotent(v)) << bhttp::to_string(v);
  for (auto v : {bhttp::verb::post, bhttp::verb::patch, bhttp::verb::connect}) EXPECT_FALSE(is_idempotent(v));
}

TEST(request_policy, websocket_upgrade_needs_get_11_and_both_fields) {
  auto upgrade = [](const std::string& head) {
    parsed_request r(head);
    return is_websocket_upgrade(r.msg());
  };
  EXPECT_TRUE(upgrade("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n"));
  EXPECT_FALSE(upgrade("GET /ws HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"));
  EXPECT_FALSE(upgrade("POST /ws HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"));
  EXPECT_FALSE(upgrade("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n"));
  EXPECT_FALSE(upgrade("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n"));
}

TEST(request_policy, request_framing_follows_the_body) {
  EXPECT_EQ(request_framing(false, false), framing::none);
  EXPECT_EQ(request_framing(true, false), framing::length);
  EXPECT_EQ(request_framing(true, true), framing::chunked);
}

TEST(request_policy, response_framing_per_client_version) {
  const response_shape chunked{true, false, false}, length{false, true, false}, close_delimited{false, false, false},
      empty{false, false, true};
  EXPECT_EQ(response_framing(chunked, 11, false), framing::chunked);
  EXPECT_EQ(response_framing(chunked, 10, false), framing::close);  // 1.0 has no chunked coding
  EXPECT_EQ(response_framing(length, 10, false), framing::length);
  EXPECT_EQ(response_framing(close_delimited, 11, false), framing::chunked);  // re-framed, the client stays
  EXPECT_EQ(response_framing(close_delimited, 10, false), framing::close);
  EXPECT_EQ(response_framing(empty, 11, false), framing::none);
  EXPECT_EQ(response_framing(chunked, 11, true), framing::none);  // upgraded: the bytes are a tunnel
}

TEST(request_policy, client_connection_stays_only_when_everything_allows) {
  EXPECT_TRUE(keeps_client(true, false, false, framing::length, true, false));
  EXPECT_TRUE(keeps_client(true, false, false, framing::chunked, false, true));  // the upload must finish first
  EXPECT_FALSE(keeps_client(false, false, false, framing::length, true, false));
  EXPECT_FALSE(keeps_client(true, true, false, framing::length, true, false));   // draining
  EXPECT_FALSE(keeps_client(true, false, true, framing::none, true, false));     // upgraded
  EXPECT_FALSE(keeps_client(true, false, false, framing::close, true, false));   // the body ends with the connection
  EXPECT_FALSE(keeps_client(true, false, false, framing::length, false, false)); // body unread
}

}  // namespace
}  // namespace lb::proto::http
