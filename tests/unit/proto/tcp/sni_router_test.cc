#include "lb/proto/tcp/sni_router.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace lb::proto::tcp {
namespace {

config::tcp_route route(std::string sni, std::vector<std::string> alpn = {}) {
  config::tcp_route r;
  if (sni.starts_with("*.")) {
    r.sni = {config::host_match::kind::suffix, sni.substr(1)};
  } else if (!sni.empty()) {
    r.sni = {config::host_match::kind::exact, sni};
  }
  r.alpn = std::move(alpn);
  return r;
}

client_hello hello(std::string sni, std::string alpn = {}) {
  client_hello h;
  h.sni = std::move(sni);
  if (!alpn.empty()) h.alpn = static_cast<char>(alpn.size()) + alpn;
  return h;
}

TEST(sni_router, exact_before_wildcard_and_longest_wildcard_first) {
  const sni_router r({route("*.example.com"), route("api.example.com"), route("*.api.example.com"), route("", {"h2"})});
  EXPECT_EQ(r.match(hello("api.example.com")), 1u);
  EXPECT_EQ(r.match(hello("www.example.com")), 0u);
  EXPECT_EQ(r.match(hello("v1.api.example.com")), 2u);
  EXPECT_EQ(r.match(hello("a.b.example.com")), 0u);
  // The bare domain is not under its own wildcard.
  EXPECT_EQ(r.match(hello("example.com")), std::nullopt);
  EXPECT_EQ(r.match(hello("other.org")), std::nullopt);
  EXPECT_EQ(r.match(hello("other.org", "h2")), 3u);
  EXPECT_EQ(r.match(hello("", "h2")), 3u);
}

TEST(sni_router, alpn_picks_among_routes_of_one_name) {
  const sni_router r({route("db.example.com", {"postgresql"}), route("db.example.com", {"h2", "http/1.1"}),
                      route("*.example.com", {"imap"})});
  EXPECT_EQ(r.match(hello("db.example.com", "postgresql")), 0u);
  EXPECT_EQ(r.match(hello("db.example.com", "http/1.1")), 1u);
  // No route of the exact name offers it: the wildcards are tried next.
  EXPECT_EQ(r.match(hello("db.example.com", "imap")), 2u);
  EXPECT_EQ(r.match(hello("db.example.com")), std::nullopt);
}

TEST(sni_router, empty_table_matches_nothing) {
  const sni_router r;
  EXPECT_EQ(r.match(hello("a.example.com")), std::nullopt);
}

}  // namespace
}  // namespace lb::proto::tcp
