#include "lb/proto/http/hash_key.h"

#include <gtest/gtest.h>

#include <string>

#include "parsed_request.h"

#include "lb/balancer/balancer.h"

namespace lb::proto::http {
namespace {

namespace bhttp = boost::beast::http;

using test_support::parsed_request;

config::hash_key key(config::hash_key::kind k, std::string name = {}) {
  config::hash_key h;
  h.type = k;
  h.name = std::move(name);
  return h;
}

TEST(hash_key, cookie_value_across_fields_and_spacing) {
  parsed_request r("GET / HTTP/1.1\r\nHost: x\r\nCookie: a=1; session=abc; e=\r\nCookie:  b=2;  c=3\r\n\r\n");
  EXPECT_EQ(find_cookie(r.msg(), "session"), "abc");
  EXPECT_EQ(find_cookie(r.msg(), "c"), "3");
  EXPECT_EQ(find_cookie(r.msg(), "e"), "");  // present, empty
  EXPECT_EQ(find_cookie(r.msg(), "missing"), std::nullopt);
  EXPECT_EQ(find_cookie(r.msg(), "sess"), std::nullopt);  // a prefix is not a name
}

TEST(hash_key, each_kind_hashes_its_part_of_the_request) {
  parsed_request r("GET /p/q?x=1 HTTP/1.1\r\nHost: x\r\nX-User: u7\r\nCookie: s=k9\r\n\r\n");
  ASSERT_TRUE(r.header_done);
  const auto& msg = r.msg();
  EXPECT_EQ(request_hash(key(config::hash_key::kind::client_ip), "192.0.2.1", msg), balancer::hash_key("192.0.2.1"));
  EXPECT_EQ(request_hash(key(config::hash_key::kind::header, "x-user"), "192.0.2.1", msg), balancer::hash_key("u7"));
  EXPECT_EQ(request_hash(key(config::hash_key::kind::cookie, "s"), "192.0.2.1", msg), balancer::hash_key("k9"));
  // The path without its query: /p/q?x=1 and /p/q?x=2 land together.
  EXPECT_EQ(request_hash(key(config::hash_key::kind::path), "192.0.2.1", msg), balancer::hash_key("/p/q"));
  // A missing header hashes as empty: such requests share one endpoint.
  EXPECT_EQ(request_hash(key(config::hash_key::kind::header, "x-none"), "192.0.2.1", msg), balancer::hash_key(""));
}

}  // namespace
}  // namespace lb::proto::http
