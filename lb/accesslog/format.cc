// format(): one access-log record as one JSON object and a newline.
//
// The line, keys always present and always in this order:
//
//   {"time":"2024-05-01T12:34:56.789012Z","listener":"web","route":"api",
//    "pool":"api","endpoint":"10.0.0.5:8080","client":"203.0.113.7",
//    "method":"GET","path":"/v1/users?id=1","status":200,"bytes_in":312,
//    "bytes_out":1534,"duration":0.012345,"upstream_duration":0.010001,
//    "reason":null,"attempts":1,"sni":null,
//    "request_id":"6f1c3a52-9d7e-4b7a-8c1e-2f0d9a4b5c61",
//    "trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}
//
// - time: start_unix_us as RFC 3339 UTC, always 6 fractional digits and "Z".
// - sni: the server name a TCP listener read from the ClientHello.
// - request_id: the X-Request-Id lb sent upstream and back (listener
//   `request_id:`); trace_id: the W3C trace-id of the request (listener
//   `tracing:`). Keys added later go at the end, so consumers that read the
//   older keys by position keep working.
// - route, pool, endpoint, reason, sni, request_id, trace_id: JSON null when
//   empty (every line carries every key, so a consumer sees one fixed
//   schema). listener, client, method and path are always strings, "" when
//   empty.
// - duration, upstream_duration: seconds, fixed with 6 decimals (rounded to the
//   microsecond). upstream_duration is null when < 0; either is null when not
//   finite (JSON has no NaN/Infinity).
// - Strings: '"' and '\' are backslash-escaped; bytes < 0x20 become \u00XX
//   (lowercase hex, also for \n, \t...); well-formed UTF-8 (no overlongs, no
//   surrogates, <= U+10FFFF) and 0x7f pass through as is; every byte that is
//   not part of a well-formed UTF-8 sequence becomes \u00XX of that byte (so a
//   raw 0xff reads back as U+00FF: the line stays valid JSON and the byte value
//   stays visible).
//
// Per request on a worker: no allocation but the growth of `out`, no locale,
// no iostreams, no snprintf.

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "lb/accesslog/access_log.h"

namespace lb::accesslog {
namespace {

constexpr char kHex[] = "0123456789abcdef";

// 0: copy as is; 1: escape (", \, control); 2: byte >= 0x80, check UTF-8.
constexpr auto kClass = [] {
  struct table {
    unsigned char v[256];
  } t{};
  for (int c = 0; c < 0x20; ++c) t.v[c] = 1;
  t.v[static_cast<unsigned char>('"')] = 1;
  t.v[static_cast<unsigned char>('\\')] = 1;
  for (int c = 0x80; c < 0x100; ++c) t.v[c] = 2;
  return t;
}();

// Length of the well-formed UTF-8 sequence starting at p (p[0] >= 0x80), or 0.
// Per the Unicode well-formed byte sequences table (no overlongs, surrogates
// or code points past U+10FFFF).
inline std::size_t utf8_len(const unsigned char* p, const unsigned char* end) {
  const std::size_t avail = static_cast<std::size_t>(end - p);
  const unsigned char b0 = p[0];
  auto cont = [](unsigned char b) { return (b & 0xC0) == 0x80; };
  if (b0 >= 0xC2 && b0 <= 0xDF) return avail >= 2 && cont(p[1]) ? 2 : 0;
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (avail < 3) return 0;
    const unsigned char lo = b0 == 0xE0 ? 0xA0 : 0x80;
    const unsigned char hi = b0 == 0xED ? 0x9F : 0xBF;
    return p[1] >= lo && p[1] <= hi && cont(p[2]) ? 3 : 0;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (avail < 4) return 0;
    const unsigned char lo = b0 == 0xF0 ? 0x90 : 0x80;
    const unsigned char hi = b0 == 0xF4 ? 0x8F : 0xBF;
    return p[1] >= lo && p[1] <= hi && cont(p[2]) && cont(p[3]) ? 4 : 0;
  }
  return 0;  // 0x80..0xC1 (continuation / overlong lead), 0xF5..0xFF
}

// True if any of the 8 bytes at p needs a look: < 0x20, '"', '\\' or >= 0x80.
// (The usual SWAR zero-byte tests: a false positive can only follow a true
// one within the word, so "any" is exact.)
inline bool word_needs_escape(const unsigned char* p) {
  std::uint64_t x;
  std::memcpy(&x, p, 8);
  constexpr std::uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
  const std::uint64_t quote = x ^ (ones * '"'), bslash = x ^ (ones * '\\');
  return ((x | ((x - ones * 0x20) & ~x) | ((quote - ones) & ~quote) | ((bslash - ones) & ~bslash)) & high) != 0;
}

// Length of `s` once escaped (== s.size() when it needs no escaping).
std::size_t escaped_size(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* const end = p + s.size();
  while (end - p >= 8 && !word_needs_escape(p)) p += 8;
  if (end - p < 8) {
    // The tail, padded with plain bytes, in one word too.
    unsigned char tail[8] = {'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a'};
    if (p != end) std::memcpy(tail, p, static_cast<std::size_t>(end - p));  // p may be null
    if (!word_needs_escape(tail)) return s.size();
  }
  std::size_t n = static_cast<std::size_t>(p - reinterpret_cast<const unsigned char*>(s.data()));
  while (p != end) {
    const unsigned char cls = kClass.v[*p];
    if (cls == 0) {
      ++p, ++n;
    } else if (cls == 2) {
      if (std::size_t len = utf8_len(p, end)) {
        p += len, n += len;
      } else {
        ++p, n += 6;
      }
    } else {
      n += *p == '"' || *p == '\\' ? 2 : 6;
      ++p;
    }
  }
  return n;
}

// Writes `s` escaped at `o` (room for escaped_size(s) bytes); returns the end.
char* put_escaped(char* o, std::string_view s, std::size_t escaped) {
  if (escaped == s.size()) {
    if (!s.empty()) std::memcpy(o, s.data(), s.size());  // data() may be null
    return o + s.size();
  }
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* const end = p + s.size();
  while (p != end) {
    const unsigned char cls = kClass.v[*p];
    if (cls == 0) {
      *o++ = static_cast<char>(*p++);
      continue;
    }
    if (cls == 2) {
      if (std::size_t len = utf8_len(p, end)) {
        std::memcpy(o, p, len);
        o += len, p += len;
        continue;
      }
    }
    if (*p == '"' || *p == '\\') {
      o[0] = '\\';
      o[1] = static_cast<char>(*p);
      o += 2;
    } else {  // a control byte, or a byte of malformed UTF-8
      std::memcpy(o, "\\u00", 4);
      o[4] = kHex[*p >> 4];
      o[5] = kHex[*p & 0xF];
      o += 6;
    }
    ++p;
  }
  return o;
}

template <std::size_t N>
inline char* put_lit(char* o, const char (&lit)[N]) {
  std::memcpy(o, lit, N - 1);
  return o + (N - 1);
}

// The key, then the quoted escaped string, or null when `null_if_empty` and empty.
template <std::size_t N>
inline char* put_string_field(char* o, const char (&key)[N], std::string_view v, std::size_t escaped,
                              bool null_if_empty) {
  o = put_lit(o, key);
  if (null_if_empty && v.empty()) return put_lit(o, "null");
  *o++ = '"';
  o = put_escaped(o, v, escaped);
  *o++ = '"';
  return o;
}

template <std::size_t N>
inline char* put_uint(char* o, const char (&key)[N], std::uint64_t v) {
  o = put_lit(o, key);
  return std::to_chars(o, o + 20, v).ptr;
}

// Room put_seconds() may need for `v`.
inline std::size_t seconds_size(double v) { return std::fabs(v) < 1e12 ? 24 : 400; }

// Seconds with exactly 6 decimals, or null when not finite.
template <std::size_t N>
char* put_seconds(char* o, const char (&key)[N], double v) {
  o = put_lit(o, key);
  if (!std::isfinite(v)) return put_lit(o, "null");
  if (!(std::fabs(v) < 1e12))  // |v| <= DBL_MAX: at most 309 integer digits, '.', 6 decimals
    return std::to_chars(o, o + 400, v, std::chars_format::fixed, 6).ptr;
  // Round to the microsecond in integers: exact digits, and much cheaper than
  // a floating-point conversion.
  const long long us = std::llround(v * 1e6);
  const unsigned long long mag =
      us < 0 ? 0ULL - static_cast<unsigned long long>(us) : static_cast<unsigned long long>(us);
  if (us < 0) *o++ = '-';
  o = std::to_chars(o, o + 20, mag / 1000000).ptr;
  *o++ = '.';
  auto frac = static_cast<unsigned>(mag % 1000000);
  for (int i = 5; i >= 0; --i) {
    o[i] = static_cast<char>('0' + frac % 10);
    frac /= 10;
  }
  return o + 6;
}

inline char* put2(char* p, unsigned v) {
  p[0] = static_cast<char>('0' + v / 10);
  p[1] = static_cast<char>('0' + v % 10);
  return p + 2;
}

// {"time":"YYYY-MM-DDTHH:MM:SS.ffffffZ"  (at most kTimeSize bytes)
constexpr std::size_t kTimeSize = 64;
char* put_time(char* p, std::int64_t unix_us) {
  // Floor division, so times before 1970 come out right too.
  std::int64_t secs = unix_us / 1000000;
  std::int64_t us = unix_us % 1000000;
  if (us < 0) {
    us += 1000000;
    --secs;
  }
  std::int64_t days = secs / 86400;
  std::int64_t sod = secs % 86400;
  if (sod < 0) {
    sod += 86400;
    --days;
  }
  // civil_from_days (H. Hinnant): proleptic Gregorian, no tz database, no lock.
  const std::int64_t z = days + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned day = doy - (153 * mp + 2) / 5 + 1;
  const unsigned month = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t year = static_cast<std::int64_t>(yoe) + era * 400 + (month <= 2);

  p = put_lit(p, "{\"time\":\"");
  if (year >= 0 && year <= 9999) {
    const auto y = static_cast<unsigned>(year);
    p = put2(p, y / 100);
    p = put2(p, y % 100);
  } else {
    p = std::to_chars(p, p + 20, year).ptr;  // still a valid JSON string
  }
  *p++ = '-';
  p = put2(p, month);
  *p++ = '-';
  p = put2(p, day);
  *p++ = 'T';
  const auto s = static_cast<unsigned>(sod);
  p = put2(p, s / 3600);
  *p++ = ':';
  p = put2(p, s / 60 % 60);
  *p++ = ':';
  p = put2(p, s % 60);
  *p++ = '.';
  auto frac = static_cast<unsigned>(us);
  for (int i = 5; i >= 0; --i) {
    p[i] = static_cast<char>('0' + frac % 10);
    frac /= 10;
  }
  p += 6;
  *p++ = 'Z';
  *p++ = '"';
  return p;
}

}  // namespace

void format(std::string& out, const record& r) {
  // One pass to size the line, one resize, then plain stores: no per-field
  // append (and capacity check), no temporary.
  const std::size_t e_listener = escaped_size(r.listener), e_route = escaped_size(r.route),
                    e_pool = escaped_size(r.pool), e_endpoint = escaped_size(r.endpoint),
                    e_client = escaped_size(r.client), e_method = escaped_size(r.method),
                    e_path = escaped_size(r.path), e_reason = escaped_size(r.reason),
                    e_sni = escaped_size(r.sni), e_request_id = escaped_size(r.request_id),
                    e_trace_id = escaped_size(r.trace_id);
  // Keys, quotes and the 4 integers at their widest (20 digits each), with slack.
  constexpr std::size_t kFixed = 512;
  const std::size_t bound = kTimeSize + kFixed + seconds_size(r.duration) + seconds_size(r.upstream_duration) +
                            e_listener + e_route + e_pool + e_endpoint + e_client + e_method + e_path + e_reason + e_sni +
                            e_request_id + e_trace_id;
  const std::size_t old = out.size();
  out.resize(old + bound);
  char* const begin = out.data() + old;
  char* o = put_time(begin, r.start_unix_us);
  o = put_string_field(o, ",\"listener\":", r.listener, e_listener, false);
  o = put_string_field(o, ",\"route\":", r.route, e_route, true);
  o = put_string_field(o, ",\"pool\":", r.pool, e_pool, true);
  o = put_string_field(o, ",\"endpoint\":", r.endpoint, e_endpoint, true);
  o = put_string_field(o, ",\"client\":", r.client, e_client, false);
  o = put_string_field(o, ",\"method\":", r.method, e_method, false);
  o = put_string_field(o, ",\"path\":", r.path, e_path, false);
  o = put_uint(o, ",\"status\":", r.status);
  o = put_uint(o, ",\"bytes_in\":", r.bytes_in);
  o = put_uint(o, ",\"bytes_out\":", r.bytes_out);
  o = put_seconds(o, ",\"duration\":", r.duration);
  if (r.upstream_duration < 0)
    o = put_lit(o, ",\"upstream_duration\":null");
  else
    o = put_seconds(o, ",\"upstream_duration\":", r.upstream_duration);
  o = put_string_field(o, ",\"reason\":", r.reason, e_reason, true);
  o = put_uint(o, ",\"attempts\":", r.attempts);
  o = put_string_field(o, ",\"sni\":", r.sni, e_sni, true);
  o = put_string_field(o, ",\"request_id\":", r.request_id, e_request_id, true);
  o = put_string_field(o, ",\"trace_id\":", r.trace_id, e_trace_id, true);
  o = put_lit(o, "}\n");
  out.resize(old + static_cast<std::size_t>(o - begin));
}

}  // namespace lb::accesslog
