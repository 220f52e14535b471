#include "lb/router/table.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <new>
#include <string>

// match() runs on every request: a test proves it makes no allocation.
#include "tests/unit/alloc_count.h"

namespace lb::router {
namespace {

using config::host_match;
using config::path_match;

config::route route_for(host_match::kind hk, std::string host, path_match::kind pk = path_match::kind::prefix,
                        std::string path = "/") {
  config::route r;
  r.host = {hk, std::move(host)};
  r.path = {pk, std::move(path)};
  return r;
}

config::route any_host(path_match::kind pk, std::string path) {
  return route_for(host_match::kind::any, "", pk, std::move(path));
}

// Request headers as the HTTP stack would expose them: names lower-case.
struct fake_headers {
  std::map<std::string, std::string, std::less<>> fields;

  // Cookies as `name -> value`, whichever Cookie field each came in.
  std::map<std::string, std::string, std::less<>> cookies;

  header_source source() const {
    return {this,
            [](const void* ctx, std::string_view name) -> std::optional<std::string_view> {
              const auto& f = static_cast<const fake_headers*>(ctx)->fields;
              const auto it = f.find(name);
              if (it == f.end()) return std::nullopt;
              return std::string_view(it->second);
            },
            [](const void* ctx, std::string_view name) -> std::optional<std::string_view> {
              const auto& c = static_cast<const fake_headers*>(ctx)->cookies;
              const auto it = c.find(name);
              if (it == c.end()) return std::nullopt;
              return std::string_view(it->second);
            }};
  }
};

const header_source no_headers{};

TEST(normalize_host, lower_cases_and_strips_port_and_trailing_dot) {
  char buf[64];
  EXPECT_EQ(normalize_host("Example.COM", buf), "example.com");
  EXPECT_EQ(normalize_host("example.com:8080", buf), "example.com");
  EXPECT_EQ(normalize_host("example.com.", buf), "example.com");
  EXPECT_EQ(normalize_host("Example.com.:443", buf), "example.com");
  EXPECT_EQ(normalize_host("example.com..", buf), "example.com.");  // only one dot
  EXPECT_EQ(normalize_host("", buf), "");
  EXPECT_EQ(normalize_host(":80", buf), "");
}

TEST(normalize_host, keeps_ipv6_brackets_and_only_strips_the_port) {
  char buf[64];
  EXPECT_EQ(normalize_host("[::1]:8080", buf), "[::1]");
  EXPECT_EQ(normalize_host("[2001:DB8::1]", buf), "[2001:db8::1]");
  EXPECT_EQ(normalize_host("[::1", buf), "[::1");  // malformed: left whole, matches nothing
}

TEST(table, first_match_wins) {
  const table t({any_host(path_match::kind::prefix, "/api/"),
                 any_host(path_match::kind::prefix, "/api/v2/"),
                 any_host(path_match::kind::prefix, "/")});
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t.match("h", "/api/v2/x", no_headers), 0u);  // not the longer prefix
  EXPECT_EQ(t.match("h", "/other", no_headers), 2u);
}

TEST(table, no_match_is_nullopt) {
  const table t({any_host(path_match::kind::exact, "/only")});
  EXPECT_EQ(t.match("h", "/other", no_headers), std::nullopt);
  EXPECT_EQ(table({}).match("h", "/", no_headers), std::nullopt);
}

TEST(table, host_exact_ignores_case_port_and_trailing_dot) {
  const table t({route_for(host_match::kind::exact, "api.example.com")});
  EXPECT_EQ(t.match("api.example.com", "/", no_headers), 0u);
  EXPECT_EQ(t.match("API.Example.COM", "/", no_headers), 0u);
  EXPECT_EQ(t.match("api.example.com:8443", "/", no_headers), 0u);
  EXPECT_EQ(t.match("api.example.com.", "/", no_headers), 0u);
  EXPECT_EQ(t.match("www.example.com", "/", no_headers), std::nullopt);
  EXPECT_EQ(t.match("api.example.com.evil", "/", no_headers), std::nullopt);
  EXPECT_EQ(t.match("", "/", no_headers), std::nullopt);
}

TEST(table, host_suffix_needs_a_label_before_it) {
  const table t({route_for(host_match::kind::suffix, ".example.com")});
  EXPECT_EQ(t.match("a.example.com", "/", no_headers), 0u);
  EXPECT_EQ(t.match("a.b.Example.com:80", "/", no_headers), 0u);
  EXPECT_EQ(t.match("example.com", "/", no_headers), std::nullopt);
  EXPECT_EQ(t.match("badexample.com", "/", no_headers), std::nullopt);
}

TEST(table, host_prefix_needs_something_after_it) {
  const table t({route_for(host_match::kind::prefix, "www.example.")});
  EXPECT_EQ(t.match("www.example.org", "/", no_headers), 0u);
  EXPECT_EQ(t.match("WWW.example.co.uk:80", "/", no_headers), 0u);
  EXPECT_EQ(t.match("www.example.", "/", no_headers), std::nullopt);  // "." stripped, then too short
  EXPECT_EQ(t.match("www.examples.org", "/", no_headers), std::nullopt);
}

TEST(table, host_regex_is_a_case_insensitive_full_match) {
  const table t({route_for(host_match::kind::regex, "(api|www)\\.Example\\.com")});
  EXPECT_EQ(t.match("api.example.com", "/", no_headers), 0u);
  EXPECT_EQ(t.match("WWW.EXAMPLE.COM:80", "/", no_headers), 0u);
  EXPECT_EQ(t.match("xapi.example.com", "/", no_headers), std::nullopt);  // anchored start
  EXPECT_EQ(t.match("api.example.com.au", "/", no_headers), std::nullopt);  // anchored end
}

TEST(table, ipv6_host) {
  const table t({route_for(host_match::kind::exact, "[::1]")});
  EXPECT_EQ(t.match("[::1]:8080", "/", no_headers), 0u);
  EXPECT_EQ(t.match("[::1]", "/", no_headers), 0u);
  EXPECT_EQ(t.match("[::2]:8080", "/", no_headers), std::nullopt);
}

TEST(table, overlong_host_matches_only_hostless_routes) {
  const std::string huge = std::string(300, 'a') + ".example.com";
  const table t({route_for(host_match::kind::suffix, ".example.com"),
                 route_for(host_match::kind::regex, ".*"), any_host(path_match::kind::prefix, "/")});
  EXPECT_EQ(t.match(huge, "/", no_headers), 2u);
}

TEST(table, path_prefix_exact_regex_ignore_the_query) {
  const table t({any_host(path_match::kind::exact, "/login"),
                 any_host(path_match::kind::regex, "/users/[0-9]+"),
                 any_host(path_match::kind::prefix, "/static/")});
  EXPECT_EQ(t.match("h", "/login", no_headers), 0u);
  EXPECT_EQ(t.match("h", "/login?next=/admin", no_headers), 0u);
  EXPECT_EQ(t.match("h", "/login/", no_headers), std::nullopt);
  EXPECT_EQ(t.match("h", "/users/42", no_headers), 1u);
  EXPECT_EQ(t.match("h", "/users/42?x=1", no_headers), 1u);
  EXPECT_EQ(t.match("h", "/users/42/edit", no_headers), std::nullopt);  // full match
  EXPECT_EQ(t.match("h", "/Users/42", no_headers), std::nullopt);       // paths are case-sensitive
  EXPECT_EQ(t.match("h", "/static/app.js?v=3", no_headers), 2u);
  EXPECT_EQ(t.match("h", "/static", no_headers), std::nullopt);
  EXPECT_EQ(t.match("h", "/x?/static/", no_headers), std::nullopt);  // query is not the path
}

TEST(table, all_headers_must_match_exactly) {
  auto canary = any_host(path_match::kind::prefix, "/");
  canary.headers = {{"x-canary", "1"}, {"x-env", "prod"}};
  const table t({canary, any_host(path_match::kind::prefix, "/")});

  fake_headers both{{{"x-canary", "1"}, {"x-env", "prod"}}, {}};
  fake_headers one{{{"x-canary", "1"}}, {}};
  fake_headers wrong{{{"x-canary", "1"}, {"x-env", "Prod"}}, {}};
  EXPECT_EQ(t.match("h", "/", both.source()), 0u);
  EXPECT_EQ(t.match("h", "/", one.source()), 1u);
  EXPECT_EQ(t.match("h", "/", wrong.source()), 1u);
  EXPECT_EQ(t.match("h", "/", no_headers), 1u);  // no lookup at all: header routes are skipped
}

TEST(table, cookies_must_match_exactly_and_combine_with_headers) {
  auto beta = any_host(path_match::kind::prefix, "/");
  beta.cookies = {{"Beta", "always"}};
  auto both = any_host(path_match::kind::prefix, "/");
  both.headers = {{"x-env", "prod"}};
  both.cookies = {{"Beta", "never"}, {"tier", "gold"}};
  const table t({beta, both, any_host(path_match::kind::prefix, "/")});

  EXPECT_EQ(t.match("h", "/", fake_headers{{}, {{"Beta", "always"}}}.source()), 0u);
  EXPECT_EQ(t.match("h", "/", fake_headers{{}, {{"beta", "always"}}}.source()), 2u);  // names as written
  EXPECT_EQ(t.match("h", "/", fake_headers{{}, {{"Beta", "always "}}}.source()), 2u);
  EXPECT_EQ(t.match("h", "/", fake_headers{{{"x-env", "prod"}}, {{"Beta", "never"}, {"tier", "gold"}}}.source()), 1u);
  EXPECT_EQ(t.match("h", "/", fake_headers{{{"x-env", "prod"}}, {{"Beta", "never"}}}.source()), 2u);
  EXPECT_EQ(t.match("h", "/", fake_headers{{}, {{"Beta", "never"}, {"tier", "gold"}}}.source()), 2u);
  EXPECT_EQ(t.match("h", "/", no_headers), 2u);  // no lookup at all: cookie routes are skipped
}

TEST(table, host_path_and_headers_combine) {
  auto r = route_for(host_match::kind::exact, "api.example.com", path_match::kind::prefix, "/v1/");
  r.headers = {{"x-canary", "1"}};
  const table t({r});
  fake_headers h{{{"x-canary", "1"}}, {}};
  EXPECT_EQ(t.match("api.example.com", "/v1/x", h.source()), 0u);
  EXPECT_EQ(t.match("www.example.com", "/v1/x", h.source()), std::nullopt);
  EXPECT_EQ(t.match("api.example.com", "/v2/x", h.source()), std::nullopt);
  EXPECT_EQ(t.match("api.example.com", "/v1/x", no_headers), std::nullopt);
}

TEST(table, invalid_regex_matches_nothing) {
  // The loader refuses these; a table built from an unchecked route must not
  // turn into a catch-all.
  const table t({any_host(path_match::kind::regex, "(unclosed"),
                 route_for(host_match::kind::regex, "(unclosed")});
  EXPECT_EQ(t.match("h", "(unclosed", no_headers), std::nullopt);
}

TEST(table, match_does_not_allocate) {
  if (!LB_COUNT_ALLOCATIONS) GTEST_SKIP() << "allocation counting is off under ASan";
  auto with_header = route_for(host_match::kind::suffix, ".example.com");
  with_header.headers = {{"x-canary", "1"}};
  with_header.cookies = {{"beta", "always"}};
  const table t({with_header, route_for(host_match::kind::regex, "api\\.example\\.(com|org)"),
                 any_host(path_match::kind::regex, "/users/[0-9]+"),
                 any_host(path_match::kind::prefix, "/")});
  fake_headers h{{{"x-canary", "1"}}, {{"beta", "never"}}};
  const auto src = h.source();
  const auto run = [&] {
    // Longer than std::string's 15-byte inline buffer, so a copy would show.
    return std::pair(t.match("API.example.org:443", "/some/longer/path?y=1", src),
                     t.match("other.test", "/users/1234567890123456?z", src));
  };
  const auto first = run();  // RE2 fills its DFA cache on first use
#if LB_COUNT_ALLOCATIONS
  const std::size_t before = ::lb::test::allocations();
  const auto again = run();
  EXPECT_EQ(::lb::test::allocations(), before);
#else
  const auto again = run();
#endif
  EXPECT_EQ(first, again);
  EXPECT_EQ(again.first, 1u);
  EXPECT_EQ(again.second, 2u);
}

TEST(table, rewrite_replaces_the_path_with_groups_and_keeps_the_query) {
  auto r = any_host(path_match::kind::prefix, "/");
  r.rewrite = config::path_rewrite{"(?i)/api(/|$)(.*)", "/v2/$2"};
  auto plain = any_host(path_match::kind::prefix, "/");
  const table t({r, plain});
  std::string out;
  ASSERT_TRUE(t.rewrite(0, "/API/users/7?x=1&y=2", out));
  EXPECT_EQ(out, "/v2/users/7?x=1&y=2");
  ASSERT_TRUE(t.rewrite(0, "/api", out));
  EXPECT_EQ(out, "/v2/");
  EXPECT_FALSE(t.rewrite(0, "/other?api", out));  // the query is never matched
  EXPECT_FALSE(t.rewrite(1, "/api/x", out));      // a route without rewrite
  // The replacement's own query wins; "$1" without a leading '/' gets one;
  // a backslash in the replacement is itself.
  auto q = any_host(path_match::kind::prefix, "/");
  q.rewrite = config::path_rewrite{"^/(\\w+)", "$1?from=\\x"};
  const table u({q});
  ASSERT_TRUE(u.rewrite(0, "/abc/d?old=1", out));
  EXPECT_EQ(out, "/abc?from=\\x");
}

TEST(table, rewrite_does_not_allocate_once_the_buffer_has_grown) {
  auto r = any_host(path_match::kind::prefix, "/");
  r.rewrite = config::path_rewrite{"^/api/(.*)", "/$1"};
  const table t({r});
  if (!LB_COUNT_ALLOCATIONS) GTEST_SKIP() << "allocation counting is off under ASan";
  std::string out;
  ASSERT_TRUE(t.rewrite(0, "/api/some/longer/path/than/fits/in/sso?q=1", out));  // RE2's caches, out's room
#if LB_COUNT_ALLOCATIONS
  const std::size_t before = ::lb::test::allocations();
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(t.rewrite(0, "/api/some/longer/path/than/fits/in/sso?q=1", out));
  EXPECT_EQ(::lb::test::allocations(), before);
#endif
  EXPECT_EQ(out, "/some/longer/path/than/fits/in/sso?q=1");
}

TEST(table, is_movable) {
  table a({any_host(path_match::kind::prefix, "/a"), any_host(path_match::kind::regex, "/b.*")});
  table b(std::move(a));
  EXPECT_EQ(b.match("h", "/bcd", no_headers), 1u);
  table c({});
  c = std::move(b);
  EXPECT_EQ(c.size(), 2u);
  EXPECT_EQ(c.match("h", "/bcd", no_headers), 1u);
}

}  // namespace
}  // namespace lb::router
