#include "lb/config/parse.h"

#include <gtest/gtest.h>

#include <chrono>

namespace lb::config {
namespace {

using namespace std::chrono_literals;

TEST(parse_digits, reads_unsigned_decimal) {
  EXPECT_EQ(parse_digits("0"), 0u);
  EXPECT_EQ(parse_digits("007"), 7u);
  EXPECT_EQ(parse_digits("18446744073709551615"), 18446744073709551615ull);
}

TEST(parse_digits, refuses_signs_junk_and_overflow) {
  for (const char* bad : {"", "-1", "+1", " 1", "1 ", "0x10", "1.5", "1e3", "12a",
                          "18446744073709551616"}) {
    EXPECT_EQ(parse_digits(bad), std::nullopt) << bad;
  }
}

TEST(parse_duration, accepts_every_unit) {
  EXPECT_EQ(parse_duration("250ms"), duration(250));
  EXPECT_EQ(parse_duration("2s"), duration(2s));
  EXPECT_EQ(parse_duration("5m"), duration(5min));
  EXPECT_EQ(parse_duration("1h"), duration(1h));
  EXPECT_EQ(parse_duration("0s"), duration(0));
  EXPECT_EQ(parse_duration("0ms"), duration(0));
  EXPECT_EQ(parse_duration("007s"), duration(7s));
}

TEST(parse_duration, requires_integer_and_unit) {
  for (const char* bad : {"", "5", "s", "ms", "fast", "1.5s", "-1s", "+1s", " 1s", "1s ",
                          "1 s", "1S", "1sec", "1d", "1us", "1m30s", "0x10s", "1ms5"}) {
    EXPECT_EQ(parse_duration(bad), std::nullopt) << bad;
  }
}

TEST(parse_duration, refuses_overflow) {
  // int64 milliseconds hold at most 9223372036854775807ms.
  EXPECT_EQ(parse_duration("9223372036854775807ms"), duration(9223372036854775807LL));
  EXPECT_EQ(parse_duration("9223372036854775808ms"), std::nullopt);
  EXPECT_EQ(parse_duration("9223372036854775s"), duration(9223372036854775000LL));
  EXPECT_EQ(parse_duration("9223372036854776s"), std::nullopt);
  EXPECT_EQ(parse_duration("2562047788015h"), duration(2562047788015LL * 3600000));
  EXPECT_EQ(parse_duration("2562047788016h"), std::nullopt);
  EXPECT_EQ(parse_duration("99999999999999999999999999s"), std::nullopt);
}

TEST(parse_address, ipv4) {
  auto a = parse_address("127.0.0.1:8080");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 8080);
  EXPECT_FALSE(a->is_hostname);
}

TEST(parse_address, ipv6_needs_brackets_which_are_stripped) {
  auto a = parse_address("[::1]:9901");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "::1");
  EXPECT_EQ(a->port, 9901);
  EXPECT_FALSE(a->is_hostname);

  auto b = parse_address("[2001:db8::10]:443");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "2001:db8::10");

  EXPECT_EQ(parse_address("::1:80"), std::nullopt);          // ambiguous
  EXPECT_EQ(parse_address("[::1]"), std::nullopt);           // no port
  EXPECT_EQ(parse_address("[::1]80"), std::nullopt);         // no ':'
  EXPECT_EQ(parse_address("[::1:80"), std::nullopt);         // unclosed
  EXPECT_EQ(parse_address("[]:80"), std::nullopt);           // empty
  EXPECT_EQ(parse_address("[example.com]:80"), std::nullopt);
  EXPECT_EQ(parse_address("[127.0.0.1]:80"), std::nullopt);  // v4 in brackets
}

TEST(parse_address, port_range) {
  EXPECT_EQ(parse_address("0.0.0.0:0")->port, 0);  // tests bind port 0
  EXPECT_EQ(parse_address("0.0.0.0:65535")->port, 65535);
  for (const char* bad : {"1.2.3.4:65536", "1.2.3.4:99999999999999999999", "1.2.3.4:",
                          "1.2.3.4:-1", "1.2.3.4:+80", "1.2.3.4:8o", "1.2.3.4:000080",
                          "1.2.3.4: 80", "1.2.3.4"}) {
    EXPECT_EQ(parse_address(bad), std::nullopt) << bad;
  }
}

TEST(parse_address, hostnames) {
  auto a = parse_address("app.internal:9002");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "app.internal");
  EXPECT_EQ(a->port, 9002);
  EXPECT_TRUE(a->is_hostname);

  EXPECT_TRUE(parse_address("localhost:80")->is_hostname);
  EXPECT_TRUE(parse_address("my-svc.ns.svc.cluster.local.:80")->is_hostname);
  EXPECT_TRUE(parse_address("1st.example.com:80")->is_hostname);

  for (const char* bad : {":80", "-bad.com:80", "bad-.com:80", "a..b:80", "a b:80", "a_b:80",
                          ".example.com:80", "ex*ample.com:80", "256.1.1.1:80", "1.2.3:80",
                          "01.2.3.4:80", "example.123:80"}) {
    EXPECT_EQ(parse_address(bad), std::nullopt) << bad;
  }
  const std::string label63(63, 'a');
  EXPECT_TRUE(parse_address(label63 + ".com:80"));
  EXPECT_EQ(parse_address(label63 + "a.com:80"), std::nullopt);
  std::string name253;
  while (name253.size() < 250) name253 += "abcdefghi.";
  name253 += "com";  // 253 bytes: the DNS limit
  ASSERT_EQ(name253.size(), 253u);
  EXPECT_TRUE(parse_address(name253 + ":80"));
  EXPECT_EQ(parse_address("x" + name253 + ":80"), std::nullopt);
}

TEST(format_duration, largest_exact_unit_and_round_trips) {
  EXPECT_EQ(format_duration(duration(0)), "0s");
  EXPECT_EQ(format_duration(duration(250)), "250ms");
  EXPECT_EQ(format_duration(duration(1500)), "1500ms");
  EXPECT_EQ(format_duration(2s), "2s");
  EXPECT_EQ(format_duration(90s), "90s");
  EXPECT_EQ(format_duration(2min), "2m");
  EXPECT_EQ(format_duration(3h), "3h");
  for (const char* s : {"0s", "1ms", "999ms", "61s", "59m", "25h"}) {
    EXPECT_EQ(format_duration(*parse_duration(s)), s);
  }
}

TEST(parse_status_range, single_code_or_range) {
  auto r = parse_status_range("200");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->min, 200u);
  EXPECT_EQ(r->max, 200u);
  r = parse_status_range("200-399");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->min, 200u);
  EXPECT_EQ(r->max, 399u);
  r = parse_status_range("399-200");  // syntax only: the loader judges the order
  ASSERT_TRUE(r);
  EXPECT_EQ(r->min, 399u);
  EXPECT_EQ(r->max, 200u);
  for (const char* bad : {"", "-", "2xx", "200-", "-399", "200 - 399", "200-399-500", " 200",
                          "+200", "200,204", "1e3"}) {
    EXPECT_EQ(parse_status_range(bad), std::nullopt) << bad;
  }
}

}  // namespace
}  // namespace lb::config
