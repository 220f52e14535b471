#include "lb/proto/http/redirect.h"

#include <gtest/gtest.h>

namespace lb::proto::http {
namespace {

std::string location(std::string_view host, std::string_view target, std::uint16_t port = 0) {
  std::string out;
  if (!https_location(out, host, target, port)) return "<400>";
  return out;
}

TEST(redirect, keeps_path_and_query_and_replaces_the_port) {
  EXPECT_EQ(location("example.com", "/a/b%20c?x=1&y=%2F"), "https://example.com/a/b%20c?x=1&y=%2F");
  EXPECT_EQ(location("example.com:8080", "/x", 8443), "https://example.com:8443/x");
  EXPECT_EQ(location("[2001:db8::1]:80", "/?q", 8443), "https://[2001:db8::1]:8443/?q");
  EXPECT_EQ(location("[::1]", "/"), "https://[::1]/");
  // Absolute-form targets give their path and query; the Host field still names the host.
  EXPECT_EQ(location("example.com", "http://other.example:80/p?q=1"), "https://example.com/p?q=1");
  EXPECT_EQ(location("example.com", "http://other.example?q"), "https://example.com/?q");
  EXPECT_EQ(location("example.com", "http://other.example"), "https://example.com/");
}

TEST(redirect, no_usable_host_or_path_is_a_400) {
  EXPECT_EQ(location("", "/"), "<400>");
  EXPECT_EQ(location(":80", "/"), "<400>");
  EXPECT_EQ(location("a/b", "/"), "<400>");
  EXPECT_EQ(location("user@example.com", "/"), "<400>");
  EXPECT_EQ(location("example.com:8x", "/"), "<400>");
  EXPECT_EQ(location("[::1", "/"), "<400>");
  EXPECT_EQ(location("example.com", "*"), "<400>");
  EXPECT_EQ(location("example.com", "example.com:443"), "<400>");
}

TEST(redirect, status_and_wire) {
  EXPECT_EQ(redirect_status({0, 301}, true), 301u);
  EXPECT_EQ(redirect_status({0, 301}, false), 308u);
  EXPECT_EQ(redirect_status({0, 308}, true), 308u);
  std::string out;
  write_redirect(out, 308, "https://a/", false);
  EXPECT_EQ(out, "HTTP/1.1 308 Permanent Redirect\r\nLocation: https://a/\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}

}  // namespace
}  // namespace lb::proto::http
