#include "lb/proto/http/rewrite.h"

#include <gtest/gtest.h>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>

namespace lb::proto::http {
namespace {

namespace bhttp = boost::beast::http;

config::route route_with(std::vector<std::pair<std::string, std::string>> set_headers = {}) {
  config::route r;
  r.set_headers = std::move(set_headers);
  return r;
}

std::string request_head(const bhttp::request_header<>& h, framing f = framing::none, std::uint64_t len = 0,
                         bool upgrade = false, const config::route& r = route_with()) {
  std::string out;
  write_request_head(out, h, f, len, "192.0.2.7", "http", upgrade, r);
  return out;
}

TEST(rewrite, request_keeps_host_and_adds_forwarding_fields) {
  bhttp::request_header<> h;
  h.method(bhttp::verb::get);
  h.target("/a?b=1");
  h.version(11);
  h.set(bhttp::field::host, "example.com");
  h.set(bhttp::field::user_agent, "t");
  EXPECT_EQ(request_head(h),
            "GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n"
            "X-Forwarded-For: 192.0.2.7\r\nX-Real-IP: 192.0.2.7\r\nX-Forwarded-Proto: http\r\nVia: 1.1 lb\r\n\r\n");
}

TEST(rewrite, client_certificate_fields_are_lbs_own) {
  bhttp::request_header<> h;
  h.method(bhttp::verb::get);
  h.target("/");
  h.version(11);
  h.set(bhttp::field::host, "example.com");
  h.insert("x-client-SUBJECT", "CN=forged");  // any spelling is dropped
  h.insert("X-Client-Cert-Sha256", "00");
  client_cert_fields cc{"x-client-subject", "x-client-cert-sha256", "CN=alice", "ab12"};
  std::string out;
  write_request_head(out, h, framing::none, 0, "192.0.2.7", "https", false, route_with(), nullptr, cc);
  EXPECT_EQ(out,
            "GET / HTTP/1.1\r\nHost: example.com\r\n"
            "X-Forwarded-For: 192.0.2.7\r\nX-Real-IP: 192.0.2.7\r\nX-Forwarded-Proto: https\r\nVia: 1.1 lb\r\n"
            "x-client-subject: CN=alice\r\nx-client-cert-sha256: ab12\r\n\r\n");
  // No verified certificate: the client's are still dropped, none are added.
  cc.subject = cc.fingerprint = {};
  out.clear();
  write_request_head(out, h, framing::none, 0, "192.0.2.7", "https", false, route_with(), nullptr, cc);
  EXPECT_EQ(out.find("client"), std::string::npos) << out;
}

TEST(rewrite, request_forwarded_proto_is_the_listeners_scheme) {
  bhttp::request_header<> h;
  h.method(bhttp::verb::get);
  h.target("/");
  h.version(11);
  h.set(bhttp::field::host, "example.com");
  h.insert("X-Forwarded-Proto", "http");  // the client's claim is replaced
  std::string out;
  write_request_head(out, h, framing::none, 0, "192.0.2.7", "https", false, route_with());
  EXPECT_EQ(out,
            "GET / HTTP/1.1\r\nHost: example.com\r\n"
            "X-Forwarded-For: 192.0.2.7\r\nX-Real-IP: 192.0.2.7\r\nX-Forwarded-Proto: https\r\nVia: 1.1 lb\r\n\r\n");
}

TEST(rewrite, request_appends_client_to_every_forwarded_for) {
  bhttp::request_header<> h;
  h.method(bhttp::verb::get);
  h.target("/");
  h.insert("X-Forwarded-For", "10.0.0.1");
  h.insert("X-Forwarded-For", "10.0.0.2, 10.0.0.3");
  h.insert("X-Real-IP", "1.1.1.1");          // replaced, never trusted from the client
  h.insert("X-Forwarded-Proto", "https");    // replaced
  const auto out = request_head(h);
  EXPECT_NE(out.find("X-Forwarded-For: 10.0.0.1, 10.0.0.2, 10.0.0.3, 192.0.2.7\r\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("1.1.1.1"), std::string::npos);
  EXPECT_EQ(out.find("https"), std::string::npos);
  EXPECT_EQ(out.find("X-Forwarded-For:", out.find("X-Forwarded-For:") + 1), std::string::npos);
}

TEST(rewrite, request_drops_hop_by_hop_and_connection_named_fields) {
  bhttp::request_header<> h;
  h.method(bhttp::verb::post);
  h.target("/");
  h.insert(bhttp::field::connection, "keep-alive, X-Secret");
  h.insert("X-Secret", "s");
  h.insert(bhttp::field::keep_alive, "timeout=5");
  h.insert(bhttp::field::te, "trailers");
  h.insert(bhttp::field::proxy_authorization, "Basic x");
  h.insert("Proxy-Foo", "1");
  h.insert(bhttp::field::upgrade, "h2c");
  h.insert(bhttp::field::expect, "100-continue");
  h.insert(bhttp::field::transfer_encoding, "chunked");
  h.insert("X-Keep", "k");
  const auto out = request_head(h, framing::chunked);
  for (const char* gone : {"Connection", "X-Secret", "Keep-Alive", "TE:", "Proxy-", "Upgrade", "Expect"})
    EXPECT_EQ(out.find(gone), std::string::npos) << gone << " in\n" << out;
  EXPECT_NE(out.find("X-Keep: k\r\n"), std::string::npos);
  EXPECT_NE(out.find("Transfer-Encoding: chunked\r\n"), std::string::npos);
}

TEST(rewrite, request_drops_every_connection_named_field_however_many) {
  bhttp::request_header<> h;
  h.method(bhttp::verb::get);
  h.target("/");
  h.insert(bhttp::field::connection, "x-a, x-b, x-c, x-d, x-e, x-f, x-g, x-h");
  h.insert(bhttp::field::connection, "x-i, x-j");
  for (const char* name : {"X-A", "X-H", "X-I", "X-J"}) h.insert(name, "secret");
  h.insert("X-Keep", "k");
  const auto out = request_head(h);
  EXPECT_EQ(out.find("secret"), std::string::npos) << out;
  EXPECT_NE(out.find("X-Keep: k\r\n"), std::string::npos) << out;
}

TEST(rewrite, request_framing_is_lbs_own) {
  bhttp::request_header<> h;
  h.method(bhttp::verb::put);
  h.target("/");
  h.insert(bhttp::field::content_length, "5");
  const auto out = request_head(h, framing::length, 5);
  EXPECT_NE(out.find("Content-Length: 5\r\n"), std::string::npos);
  EXPECT_EQ(out.find("Content-Length", out.find("Content-Length") + 1), std::string::npos);
}

TEST(rewrite, request_upgrade_keeps_upgrade) {
  bhttp::request_header<> h;
  h.method(bhttp::verb::get);
  h.target("/ws");
  h.insert(bhttp::field::connection, "Upgrade");
  h.insert(bhttp::field::upgrade, "websocket");
  const auto out = request_head(h, framing::none, 0, true);
  EXPECT_NE(out.find("Upgrade: websocket\r\n"), std::string::npos);
  EXPECT_NE(out.find("Connection: upgrade\r\n"), std::string::npos);
}

TEST(rewrite, request_set_headers_replace) {
  bhttp::request_header<> h;
  h.method(bhttp::verb::get);
  h.target("/");
  h.insert("X-Route", "client");
  const auto out = request_head(h, framing::none, 0, false, route_with({{"x-route", "api"}}));
  EXPECT_EQ(out.find("client"), std::string::npos);
  EXPECT_NE(out.find("x-route: api\r\n"), std::string::npos);
}

TEST(rewrite, response_keep_alive_per_version) {
  bhttp::response_header<> h;
  h.result(bhttp::status::ok);
  h.insert(bhttp::field::connection, "close");
  h.insert(bhttp::field::content_type, "text/plain");
  std::string a, b, c;
  write_response_head(a, h, 11, framing::length, 3, true, false);
  EXPECT_EQ(a, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\n");
  write_response_head(b, h, 11, framing::chunked, 0, false, false);
  EXPECT_EQ(b, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
  write_response_head(c, h, 10, framing::length, 3, true, false);
  EXPECT_EQ(c, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\n");
}

TEST(rewrite, response_keeps_upstream_reason_phrase) {
  bhttp::response_header<> h;
  h.result(bhttp::status::service_unavailable);
  h.reason("Busy Right Now");
  std::string out;
  write_response_head(out, h, 11, framing::length, 0, true, false);
  EXPECT_EQ(out.rfind("HTTP/1.1 503 Busy Right Now\r\n", 0), 0u) << out;
}

TEST(rewrite, request_trace_fields_as_decided) {
  bhttp::request_header<> h;
  h.method(bhttp::verb::get);
  h.target("/");
  h.set(bhttp::field::host, "example.com");
  h.insert("X-Request-Id", "client-said");
  h.insert("traceparent", "00-bad");
  h.insert("tracestate", "k=v");
  h.insert("Accept", "*/*");
  trace_ids ids;
  ids.request_id = "lb-made";
  ids.own_request_id = true;
  ids.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  ids.drop_trace = true;
  std::string out;
  write_request_head(out, h, framing::none, 0, "192.0.2.7", "http", false, route_with(), &ids);
  EXPECT_EQ(out,
            "GET / HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n"
            "X-Forwarded-For: 192.0.2.7\r\nX-Real-IP: 192.0.2.7\r\nX-Forwarded-Proto: http\r\n"
            "X-Request-Id: lb-made\r\ntraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n"
            "Via: 1.1 lb\r\n\r\n");

  // Kept ones pass where they were, untouched.
  trace_ids kept;
  kept.request_id = "client-said";
  kept.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  out.clear();
  write_request_head(out, h, framing::none, 0, "192.0.2.7", "http", false, route_with(), &kept);
  EXPECT_NE(out.find("X-Request-Id: client-said\r\ntraceparent: 00-bad\r\ntracestate: k=v\r\n"), std::string::npos)
      << out;
}

TEST(rewrite, response_request_id_replaces_the_upstreams) {
  bhttp::response_header<> h;
  h.result(bhttp::status::ok);
  h.insert("X-Request-Id", "upstream-said");
  h.insert("Server", "u");
  std::string out;
  write_response_head(out, h, 11, framing::length, 0, true, false, "lb-made");
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nServer: u\r\nX-Request-Id: lb-made\r\nContent-Length: 0\r\n\r\n");
  out.clear();
  write_response_head(out, h, 11, framing::length, 0, true, false);  // request_id off: as the upstream said
  EXPECT_NE(out.find("X-Request-Id: upstream-said\r\n"), std::string::npos);
}

}  // namespace
}  // namespace lb::proto::http
