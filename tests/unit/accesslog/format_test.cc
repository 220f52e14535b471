#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lb/accesslog/access_log.h"

namespace lb::accesslog {
namespace {

// A strict JSON checker (RFC 8259) for one line: an object of scalars. Also
// decodes the string values, so tests can check what a consumer reads back.
class json_line {
 public:
  // Parses `line` (without the newline). False if it is not valid JSON.
  bool parse(std::string_view line) {
    s_ = line;
    i_ = 0;
    fields_.clear();
    if (!object()) return false;
    ws();
    return i_ == s_.size();
  }
  // key -> raw JSON value text, or the decoded string for string values.
  const std::vector<std::pair<std::string, std::string>>& fields() const { return fields_; }
  std::string get(std::string_view key) const {
    for (const auto& [k, v] : fields_)
      if (k == key) return v;
    return "<missing>";
  }

 private:
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool lit(std::string_view l) {
    if (s_.substr(i_, l.size()) != l) return false;
    i_ += l.size();
    return true;
  }
  bool object() {
    ws();
    if (!lit("{")) return false;
    ws();
    if (lit("}")) return true;
    for (;;) {
      ws();
      std::string key, value;
      if (!string(key)) return false;
      ws();
      if (!lit(":")) return false;
      ws();
      if (i_ < s_.size() && s_[i_] == '"') {
        if (!string(value)) return false;
      } else {
        const std::size_t start = i_;
        if (!lit("null") && !lit("true") && !lit("false") && !number()) return false;
        value = "#" + std::string(s_.substr(start, i_ - start));  // '#': not a string
      }
      fields_.emplace_back(std::move(key), std::move(value));
      ws();
      if (lit("}")) return true;
      if (!lit(",")) return false;
    }
  }
  bool digits() {
    const std::size_t start = i_;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
    return i_ > start;
  }
  bool number() {
    lit("-");
    if (lit("0")) {
    } else if (i_ < s_.size() && s_[i_] >= '1' && s_[i_] <= '9') {
      digits();
    } else {
      return false;
    }
    if (lit(".") && !digits()) return false;
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
      if (!lit("+")) lit("-");
      if (!digits()) return false;
    }
    return true;
  }
  static void put_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | cp >> 6));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | cp >> 12));
      out.push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | cp >> 18));
      out.push_back(static_cast<char>(0x80 | (cp >> 12 & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  bool hex4(std::uint32_t& v) {
    if (i_ + 4 > s_.size()) return false;
    v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s_[i_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<std::uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<std::uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<std::uint32_t>(c - 'A' + 10);
      else return false;
    }
    return true;
  }
  // A well-formed UTF-8 sequence at i_ (first byte >= 0x80), copied to out.
  bool utf8(std::string& out) {
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s_[i_ + k]); };
    const unsigned char b0 = b(0);
    std::size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b0 >= 0xC2 && b0 <= 0xDF) n = 2;
    else if (b0 >= 0xE0 && b0 <= 0xEF) n = 3, lo = b0 == 0xE0 ? 0xA0 : 0x80, hi = b0 == 0xED ? 0x9F : 0xBF;
    else if (b0 >= 0xF0 && b0 <= 0xF4) n = 4, lo = b0 == 0xF0 ? 0x90 : 0x80, hi = b0 == 0xF4 ? 0x8F : 0xBF;
    else return false;
    if (i_ + n > s_.size()) return false;
    if (b(1) < lo || b(1) > hi) return false;
    for (std::size_t k = 2; k < n; ++k)
      if ((b(k) & 0xC0) != 0x80) return false;
    out.append(s_.substr(i_, n));
    i_ += n;
    return true;
  }
  bool string(std::string& out) {
    if (!lit("\"")) return false;
    for (;;) {
      if (i_ >= s_.size()) return false;
      const auto c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') {
        ++i_;
        return true;
      }
      if (c < 0x20) return false;
      if (c >= 0x80) {
        if (!utf8(out)) return false;
        continue;
      }
      if (c != '\\') {
        out.push_back(static_cast<char>(c));
        ++i_;
        continue;
      }
      ++i_;
      if (i_ >= s_.size()) return false;
      const char e = s_[i_++];
      switch (e) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          std::uint32_t cp;
          if (!hex4(cp)) return false;
          if (cp >= 0xDC00 && cp <= 0xDFFF) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            std::uint32_t lo;
            if (!lit("\\u") || !hex4(lo) || lo < 0xDC00 || lo > 0xDFFF) return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          put_utf8(out, cp);
          break;
        }
        default: return false;
      }
    }
  }

  std::string_view s_;
  std::size_t i_ = 0;
  std::vector<std::pair<std::string, std::string>> fields_;
};

std::string line_of(const record& r) {
  std::string out;
  format(out, r);
  return out;
}

record full_record() {
  record r;
  r.start_unix_us = 1714566896789012;  // 2024-05-01T12:34:56.789012Z
  r.listener = "web";
  r.route = "api";
  r.pool = "api";
  r.endpoint = "10.0.0.5:8080";
  r.client = "203.0.113.7";
  r.method = "GET";
  r.path = "/v1/users?id=1";
  r.status = 200;
  r.bytes_in = 312;
  r.bytes_out = 1534;
  r.duration = 0.012345;
  r.upstream_duration = 0.010001;
  r.reason = "";
  r.attempts = 1;
  return r;
}

TEST(accesslog_format, full_record) {
  EXPECT_EQ(line_of(full_record()),
            R"({"time":"2024-05-01T12:34:56.789012Z","listener":"web","route":"api","pool":"api",)"
            R"("endpoint":"10.0.0.5:8080","client":"203.0.113.7","method":"GET","path":"/v1/users?id=1",)"
            R"("status":200,"bytes_in":312,"bytes_out":1534,"duration":0.012345,"upstream_duration":0.010001,)"
            R"("reason":null,"attempts":1,"sni":null,"request_id":null,"trace_id":null})"
            "\n");
}

TEST(accesslog_format, request_and_trace_ids_come_last) {
  record r = full_record();
  r.request_id = "6f1c3a52-9d7e-4b7a-8c1e-2f0d9a4b5c61";
  r.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  const auto line = line_of(r);
  EXPECT_NE(line.find(R"("attempts":1,"sni":null,"request_id":"6f1c3a52-9d7e-4b7a-8c1e-2f0d9a4b5c61",)"
                      R"("trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"})"
                      "\n"),
            std::string::npos)
      << line;
  r.request_id = "a\"b";  // a trusted client's ID is escaped like any string
  EXPECT_NE(line_of(r).find(R"("request_id":"a\"b")"), std::string::npos);
}

TEST(accesslog_format, full_record_with_reason_and_large_numbers) {
  record r = full_record();
  r.status = 504;
  r.reason = "upstream_timeout";
  r.attempts = 3;
  r.bytes_in = std::numeric_limits<std::uint64_t>::max();
  r.bytes_out = 0;
  r.duration = 30.0000004;
  r.upstream_duration = -1;
  EXPECT_EQ(line_of(r),
            R"({"time":"2024-05-01T12:34:56.789012Z","listener":"web","route":"api","pool":"api",)"
            R"("endpoint":"10.0.0.5:8080","client":"203.0.113.7","method":"GET","path":"/v1/users?id=1",)"
            R"("status":504,"bytes_in":18446744073709551615,"bytes_out":0,"duration":30.000000,)"
            R"("upstream_duration":null,"reason":"upstream_timeout","attempts":3,"sni":null,)"
            R"("request_id":null,"trace_id":null})"
            "\n");
}

TEST(accesslog_format, minimal_record_has_nulls) {
  EXPECT_EQ(line_of(record{}),
            R"({"time":"1970-01-01T00:00:00.000000Z","listener":"","route":null,"pool":null,)"
            R"("endpoint":null,"client":"","method":"","path":"","status":0,"bytes_in":0,"bytes_out":0,)"
            R"("duration":0.000000,"upstream_duration":null,"reason":null,"attempts":0,"sni":null,)"
            R"("request_id":null,"trace_id":null})"
            "\n");
}

TEST(accesslog_format, appends_to_out) {
  std::string out = "prefix\n";
  format(out, record{});
  format(out, full_record());
  EXPECT_EQ(out, "prefix\n" + line_of(record{}) + line_of(full_record()));
}

TEST(accesslog_format, every_line_is_valid_json_with_all_keys_in_order) {
  json_line j;
  std::string line = line_of(full_record());
  ASSERT_EQ(line.back(), '\n');
  line.pop_back();
  ASSERT_TRUE(j.parse(line)) << line;
  std::vector<std::string> keys;
  for (const auto& [k, v] : j.fields()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"time", "listener", "route", "pool", "endpoint", "client", "method",
                                            "path", "status", "bytes_in", "bytes_out", "duration",
                                            "upstream_duration", "reason", "attempts", "sni", "request_id",
                                            "trace_id"}));
}

std::string time_of(std::int64_t unix_us) {
  record r;
  r.start_unix_us = unix_us;
  json_line j;
  std::string line = line_of(r);
  line.pop_back();
  EXPECT_TRUE(j.parse(line)) << line;
  return j.get("time");
}

TEST(accesslog_format, time_is_rfc3339_utc_microseconds) {
  EXPECT_EQ(time_of(0), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(time_of(1), "1970-01-01T00:00:00.000001Z");
  EXPECT_EQ(time_of(-1), "1969-12-31T23:59:59.999999Z");
  EXPECT_EQ(time_of(-86400LL * 1000000), "1969-12-31T00:00:00.000000Z");
  EXPECT_EQ(time_of(951782400LL * 1000000), "2000-02-29T00:00:00.000000Z");
  EXPECT_EQ(time_of(951868800LL * 1000000 - 1), "2000-02-29T23:59:59.999999Z");
  EXPECT_EQ(time_of(1709208000LL * 1000000 + 500000), "2024-02-29T12:00:00.500000Z");
  EXPECT_EQ(time_of(4102444799LL * 1000000 + 999999), "2099-12-31T23:59:59.999999Z");
  EXPECT_EQ(time_of(253402300799LL * 1000000), "9999-12-31T23:59:59.000000Z");

  // Agrees with gmtime_r over a spread of instants.
  std::mt19937_64 rng(7);
  for (int n = 0; n < 2000; ++n) {
    const std::int64_t us = static_cast<std::int64_t>(rng() % (4102444800ULL * 1000000));
    const time_t secs = static_cast<time_t>(us / 1000000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char want[96];
    std::snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(us % 1000000));
    ASSERT_EQ(time_of(us), want) << us;
  }
}

std::string durations_of(double d, double up) {
  record r;
  r.duration = d;
  r.upstream_duration = up;
  json_line j;
  std::string line = line_of(r);
  line.pop_back();
  EXPECT_TRUE(j.parse(line)) << line;
  return j.get("duration").substr(1) + " " + j.get("upstream_duration").substr(1);
}

TEST(accesslog_format, durations_are_seconds_with_six_decimals) {
  EXPECT_EQ(durations_of(0, 0), "0.000000 0.000000");
  EXPECT_EQ(durations_of(1.5, 0.25), "1.500000 0.250000");
  EXPECT_EQ(durations_of(0.0123456, 0.0000004), "0.012346 0.000000");
  EXPECT_EQ(durations_of(12345.678901, 59.9999996), "12345.678901 60.000000");
  EXPECT_EQ(durations_of(-0.5, -0.0), "-0.500000 0.000000");  // -0 is not < 0
  EXPECT_EQ(durations_of(1e20, -1e-9), "100000000000000000000.000000 null");
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(durations_of(inf, nan), "null null");
  EXPECT_EQ(durations_of(-inf, inf), "null null");
}

std::string path_field(std::string_view path) {
  record r;
  r.path = path;
  const std::string line = line_of(r);
  const std::string_view key = "\"path\":";
  const auto start = line.find(key) + key.size();
  const auto end = line.find(",\"status\":");
  return line.substr(start, end - start);
}

TEST(accesslog_format, escapes_quotes_backslashes_and_controls) {
  EXPECT_EQ(path_field(R"(/a"b\c)"), R"("/a\"b\\c")");
  EXPECT_EQ(path_field(std::string_view("\n\r\t\b\f\x01\x1f", 7)),
            R"("\u000a\u000d\u0009\u0008\u000c\u0001\u001f")");
  EXPECT_EQ(path_field(std::string_view("a\0b", 3)), R"("a\u0000b")");
  EXPECT_EQ(path_field("\x7f /?#&=%20'<>"), "\"\x7f /?#&=%20'<>\"");
  EXPECT_EQ(path_field("\""), R"("\"")");
  EXPECT_EQ(path_field("\\"), R"("\\")");
}

TEST(accesslog_format, passes_valid_utf8_through) {
  const std::string s = "/caf\xC3\xA9/\xE2\x82\xAC/\xF0\x9F\x98\x80/\xEF\xBF\xBF/\xF4\x8F\xBF\xBF/\xED\x9F\xBF";
  EXPECT_EQ(path_field(s), "\"" + s + "\"");
}

TEST(accesslog_format, escapes_each_byte_of_invalid_utf8) {
  EXPECT_EQ(path_field("\x80"), R"("\u0080")");                  // lone continuation
  EXPECT_EQ(path_field("\xff\xfe"), R"("\u00ff\u00fe")");        // never valid
  EXPECT_EQ(path_field("a\xC3"), R"("a\u00c3")");                // truncated at the end
  EXPECT_EQ(path_field("\xC3(x"), R"("\u00c3(x")");              // bad continuation
  EXPECT_EQ(path_field("\xC0\xAF"), R"("\u00c0\u00af")");        // overlong '/'
  EXPECT_EQ(path_field("\xE0\x80\xAF"), R"("\u00e0\u0080\u00af")");  // overlong
  EXPECT_EQ(path_field("\xED\xA0\x80"), R"("\u00ed\u00a0\u0080")");  // surrogate D800
  EXPECT_EQ(path_field("\xF4\x90\x80\x80"), R"("\u00f4\u0090\u0080\u0080")");  // > U+10FFFF
  EXPECT_EQ(path_field("\xF0\x9F\x98"), R"("\u00f0\u009f\u0098")");  // truncated 4-byte
  EXPECT_EQ(path_field("\xF8\x88\x80\x80\x80"), R"("\u00f8\u0088\u0080\u0080\u0080")");
  // A bad byte does not swallow the valid sequence after it.
  EXPECT_EQ(path_field("\xE2\x82\xC3\xA9"), "\"\\u00e2\\u0082\xC3\xA9\"");
}

TEST(accesslog_format, escapes_every_string_field) {
  record r;
  r.listener = "l\"";
  r.route = "r\\";
  r.pool = "p\n";
  r.endpoint = "e\xff";
  r.client = "c\x01";
  r.method = "m\"";
  r.path = "/\"";
  r.reason = "x\\";
  const std::string line = line_of(r);
  EXPECT_NE(line.find(R"("listener":"l\"","route":"r\\","pool":"p\u000a","endpoint":"e\u00ff",)"
                      R"("client":"c\u0001","method":"m\"","path":"/\"")"),
            std::string::npos)
      << line;
  EXPECT_NE(line.find(R"("reason":"x\\")"), std::string::npos) << line;
}

// Length of a well-formed UTF-8 sequence at s[i] (1 for ASCII), else 0:
// decodes the code point and rejects overlongs, surrogates and > U+10FFFF.
std::size_t valid_utf8_at(const std::string& s, std::size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  std::size_t n;
  std::uint32_t cp, min;
  if (b0 < 0x80) return 1;
  if ((b0 & 0xE0) == 0xC0) n = 2, cp = b0 & 0x1F, min = 0x80;
  else if ((b0 & 0xF0) == 0xE0) n = 3, cp = b0 & 0x0F, min = 0x800;
  else if ((b0 & 0xF8) == 0xF0) n = 4, cp = b0 & 0x07, min = 0x10000;
  else return 0;
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = cp << 6 | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

// Any bytes at all: the line is valid JSON, and reads back as the input with
// each byte of malformed UTF-8 turned into U+0000..U+00FF.
TEST(accesslog_format, random_bytes_always_give_valid_json) {
  std::mt19937_64 rng(42);
  json_line j;
  for (int n = 0; n < 20000; ++n) {
    std::string s(rng() % 24, '\0');
    for (auto& c : s) {
      const auto x = rng();
      // Bias toward the interesting bytes: controls, quotes, UTF-8 leads/continuations.
      c = static_cast<char>(x % 4 == 0 ? 0x80 + (x >> 8) % 0x80 : x % 4 == 1 ? (x >> 8) % 0x20 : (x >> 8) & 0xFF);
    }
    record r;
    r.path = s;
    r.client = s;
    std::string line = line_of(r);
    ASSERT_EQ(line.back(), '\n');
    line.pop_back();
    ASSERT_EQ(line.find('\n'), std::string::npos);
    ASSERT_TRUE(j.parse(line)) << line;

    // Expected decoding: valid sequences as is, other bytes as U+00XX.
    std::string want;
    for (std::size_t i = 0; i < s.size();) {
      const std::size_t len = valid_utf8_at(s, i);
      if (len) {
        want.append(s, i, len);
        i += len;
      } else {
        const auto b = static_cast<unsigned char>(s[i++]);
        want.push_back(static_cast<char>(0xC0 | b >> 6));
        want.push_back(static_cast<char>(0x80 | (b & 0x3F)));
      }
    }
    ASSERT_EQ(j.get("path"), want);
    ASSERT_EQ(j.get("client"), want);
  }
}

}  // namespace
}  // namespace lb::accesslog
