#include "lb/proto/http/trace_context.h"

#include <cstdint>
#include <cstring>

#include <boost/beast/core/string.hpp>

namespace lb::proto::http {

namespace {

// Two hex digits per byte value: one load per byte instead of a shift, mask
// and branch per digit (IDs are made on every request).
constexpr auto kHexPairs = [] {
  struct table {
    char v[512];
  } t{};
  constexpr char digits[] = "0123456789abcdef";
  for (int b = 0; b < 256; ++b) {
    t.v[2 * b] = digits[b >> 4];
    t.v[2 * b + 1] = digits[b & 0xF];
  }
  return t;
}();

// Lower-case hex only: Trace Context §3.2.2 refuses upper case.
bool lower_hex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

bool all_zero(std::string_view s) { return s.find_first_not_of('0') == std::string_view::npos; }

// The `n` low bytes of `v` as 2n hex digits, most significant first.
inline char* put_hex(char* o, std::uint64_t v, int n) {
  for (int i = n - 1; i >= 0; --i) {
    std::memcpy(o + 2 * i, &kHexPairs.v[2 * (v & 0xFF)], 2);
    v >>= 8;
  }
  return o + 2 * n;
}

}  // namespace

std::string_view traceparent_trace_id(std::string_view v) {
  // version "-" trace-id "-" parent-id "-" trace-flags
  if (v.size() < traceparent_size) return {};
  const auto version = v.substr(0, 2);
  if (!lower_hex(version) || version == "ff") return {};
  if (version == "00" ? v.size() != traceparent_size : (v.size() > traceparent_size && v[55] != '-')) return {};
  if (v[2] != '-' || v[35] != '-' || v[52] != '-') return {};
  const auto trace_id = v.substr(3, 32), parent_id = v.substr(36, 16), flags = v.substr(53, 2);
  if (!lower_hex(trace_id) || !lower_hex(parent_id) || !lower_hex(flags)) return {};
  if (all_zero(trace_id) || all_zero(parent_id)) return {};
  return trace_id;
}

bool acceptable_request_id(std::string_view v) {
  if (v.empty() || v.size() > 128) return false;
  for (char c : v)
    if (c <= ' ' || c >= 0x7f || c == '"' || c == '\\') return false;
  return true;
}

void write_uuid4(fast_rng& rng, char* out) {
  std::uint64_t hi = rng.next(), lo = rng.next();
  hi = (hi & ~0xF000ULL) | 0x4000ULL;                         // version 4
  lo = (lo & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;  // variant 10
  // 8-4-4-4-12 hex digits
  char* o = put_hex(out, hi >> 32, 4);
  *o++ = '-';
  o = put_hex(o, hi >> 16, 2);
  *o++ = '-';
  o = put_hex(o, hi, 2);
  *o++ = '-';
  o = put_hex(o, lo >> 48, 2);
  *o++ = '-';
  put_hex(o, lo, 6);
}

void write_traceparent(fast_rng& rng, bool sampled, char* out) {
  std::uint64_t hi = rng.next(), lo = rng.next(), parent = rng.next();
  if ((hi | lo) == 0) lo = 1;  // all-zero IDs are invalid
  if (parent == 0) parent = 1;
  std::memcpy(out, "00-", 3);
  char* o = put_hex(put_hex(out + 3, hi, 8), lo, 8);
  *o++ = '-';
  o = put_hex(o, parent, 8);
  std::memcpy(o, sampled ? "-01" : "-00", 3);
}

void incoming_trace::see(std::string_view name, std::string_view value) {
  using boost::beast::iequals;
  if (name.size() == 12 && iequals(name, "x-request-id")) {
    request_id = value;
    ++request_ids;
  } else if (name.size() == 11 && iequals(name, "traceparent")) {
    traceparent = value;
    ++traceparents;
  }
}

bool replaced_trace_field(std::string_view name, const trace_ids& ids) {
  using boost::beast::iequals;
  if (ids.own_request_id && name.size() == 12 && iequals(name, "x-request-id")) return true;
  return ids.drop_trace && ((name.size() == 11 && iequals(name, "traceparent")) ||
                            (name.size() == 10 && iequals(name, "tracestate")));
}

void append_trace_fields(std::string& out, const trace_ids& ids) {
  if (ids.own_request_id) out.append("X-Request-Id: ").append(ids.request_id).append("\r\n");
  if (!ids.traceparent.empty()) out.append("traceparent: ").append(ids.traceparent).append("\r\n");
}

}  // namespace lb::proto::http
