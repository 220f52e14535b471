#include "lb/config/validate.h"

#include <gtest/gtest.h>

namespace lb::config {
namespace {

host_match ok(std::string_view s) {
  std::string err;
  auto m = parse_host_match(s, err);
  EXPECT_TRUE(m) << s << ": " << err;
  return m.value_or(host_match{});
}

std::string bad(std::string_view s) {
  std::string err;
  EXPECT_FALSE(parse_host_match(s, err)) << s;
  return err;
}

TEST(parse_host_match, forms_and_normalisation) {
  auto m = ok("API.Example.com");
  EXPECT_EQ(m.type, host_match::kind::exact);
  EXPECT_EQ(m.value, "api.example.com");
  EXPECT_EQ(ok("api.example.com.").value, "api.example.com");
  EXPECT_EQ(ok("10.0.0.1").value, "10.0.0.1");
  EXPECT_EQ(ok("[2001:DB8::1]").value, "[2001:db8::1]");

  m = ok("*.Example.com");
  EXPECT_EQ(m.type, host_match::kind::suffix);
  EXPECT_EQ(m.value, ".example.com");

  m = ok("WWW.example.*");
  EXPECT_EQ(m.type, host_match::kind::prefix);
  EXPECT_EQ(m.value, "www.example.");

  m = ok("~^API\\d+\\.example\\.com$");
  EXPECT_EQ(m.type, host_match::kind::regex);
  EXPECT_EQ(m.value, "^API\\d+\\.example\\.com$");  // not lower-cased: \D would mean \d
}

TEST(parse_host_match, refusals_explain_themselves) {
  EXPECT_NE(bad("").find("leave 'host' out"), std::string::npos);
  EXPECT_NE(bad("~").find("empty host regex"), std::string::npos);
  EXPECT_EQ(bad("~(a"), "invalid host regex '(a': missing ): (a");
  EXPECT_NE(bad("*").find("'*' is only allowed"), std::string::npos);
  EXPECT_NE(bad("*.*").find("'*' is only allowed"), std::string::npos);
  EXPECT_NE(bad("a.*.com").find("'*' is only allowed"), std::string::npos);
  EXPECT_NE(bad("*example.com").find("'*' is only allowed"), std::string::npos);
  for (const char* s : {"a b.com", "a/b", "example.com:80", ".example.com", "a..b", "www..*",
                        "*.", "[::1"}) {
    EXPECT_NE(bad(s).find("expected a host name"), std::string::npos) << s;
  }
}

TEST(validate, names_tokens_and_values) {
  EXPECT_TRUE(is_name("web-1.v2_x"));
  EXPECT_FALSE(is_name(""));
  EXPECT_FALSE(is_name("a b"));
  EXPECT_FALSE(is_name("a\"b"));
  EXPECT_FALSE(is_name(std::string(129, 'a')));

  EXPECT_TRUE(is_header_token("X-Forwarded-For"));
  EXPECT_TRUE(is_header_token("a!#$%&'*+-.^_`|~9"));
  EXPECT_FALSE(is_header_token(""));
  EXPECT_FALSE(is_header_token("x canary"));
  EXPECT_FALSE(is_header_token("x:y"));
  EXPECT_FALSE(is_header_token("\xc3\xa9"));

  EXPECT_TRUE(is_header_value("a value, with: punctuation"));
  EXPECT_FALSE(is_header_value("a\rb"));
  EXPECT_FALSE(is_header_value("a\nb"));
  EXPECT_FALSE(is_header_value(std::string_view("a\0b", 3)));

  EXPECT_TRUE(is_reserved_header("transfer-encoding"));
  EXPECT_FALSE(is_reserved_header("host"));
  EXPECT_EQ(to_lower("X-LB"), "x-lb");
}

TEST(parse_hash_key, forms_and_names) {
  std::string err;
  auto k = parse_hash_key("client_ip", err);
  ASSERT_TRUE(k);
  EXPECT_EQ(k->type, hash_key::kind::client_ip);
  k = parse_hash_key("path", err);
  ASSERT_TRUE(k);
  EXPECT_EQ(k->type, hash_key::kind::path);
  k = parse_hash_key("header:X-User", err);
  ASSERT_TRUE(k);
  EXPECT_EQ(k->type, hash_key::kind::header);
  EXPECT_EQ(k->name, "x-user");
  k = parse_hash_key("cookie:JSESSIONID", err);
  ASSERT_TRUE(k);
  EXPECT_EQ(k->type, hash_key::kind::cookie);
  EXPECT_EQ(k->name, "JSESSIONID");

  for (const char* s : {"", "ip", "Client_IP", "header", "Header:x", "uri", "cookie"}) {
    EXPECT_FALSE(parse_hash_key(s, err)) << s;
    EXPECT_NE(err.find("unknown hash_key"), std::string::npos) << s << ": " << err;
  }
  EXPECT_FALSE(parse_hash_key("cookie:", err));
  EXPECT_EQ(err, "invalid hash_key 'cookie:': missing the cookie name after 'cookie:'");
  EXPECT_FALSE(parse_hash_key("header:x:y", err));
  EXPECT_EQ(err, "invalid hash_key 'header:x:y': 'x:y' is not a valid header name");
  EXPECT_FALSE(parse_hash_key("cookie:a;b", err));
  EXPECT_EQ(err, "invalid hash_key 'cookie:a;b': 'a;b' is not a valid cookie name");
}

TEST(validate, host_header_and_origin_form) {
  for (const char* s : {"example.com", "example.com:8080", "localhost", "10.0.0.1",
                        "10.0.0.1:80", "[::1]", "[2001:db8::1]:443"}) {
    EXPECT_TRUE(is_host_header(s)) << s;
  }
  for (const char* s : {"", "::1", "a b", "example.com:", "example.com:99999", "[::1",
                        "http://example.com", "example.com/x", "a_b.com"}) {
    EXPECT_FALSE(is_host_header(s)) << s;
  }
  EXPECT_TRUE(is_origin_form("/"));
  EXPECT_TRUE(is_origin_form("/healthz?deep=1&x=%20"));
  for (const char* s : {"", "healthz", "/a b", "/a\tb", "/a\r\n", "/\x7f", "/\xc3\xa9",
                        "http://x/"}) {
    EXPECT_FALSE(is_origin_form(s)) << s;
  }
}

TEST(validate, regex_error_reports_re2s_message) {
  EXPECT_EQ(regex_error("/u/[0-9]+", false), "");
  EXPECT_EQ(regex_error("[a", false), "missing ]: [a");
}

}  // namespace
}  // namespace lb::config
