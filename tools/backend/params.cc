#include "params.h"

#include <charconv>

namespace lb::backend {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::uint64_t> parse_u64(std::string_view s) {
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<bool> parse_flag(std::string_view s) {
  if (s == "1" || s == "true" || s == "yes" || s.empty()) return true;
  if (s == "0" || s == "false" || s == "no") return false;
  return std::nullopt;
}

// RFC 9110 tchar.
bool is_token_char(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*':
    case '+': case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<std::string> url_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = hex_value(s[i + 1]);
      int lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

std::optional<std::string> parse_params(std::string_view target, request_params& out) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  std::string_view query = target.substr(q + 1);
  if (auto hash = query.find('#'); hash != std::string_view::npos) query = query.substr(0, hash);

  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;

    auto eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    auto decoded = url_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
    if (!decoded) return "malformed percent-escape in '" + std::string(key) + "'";
    const std::string& value = *decoded;

    if (key == "status") {
      auto v = parse_u64(value);
      if (!v || *v < 100 || *v > 999) return "status must be a number in 100..999";
      out.status = static_cast<unsigned>(*v);
    } else if (key == "delay") {
      auto v = parse_u64(value);
      // Cap at one day: large enough for any test, small enough for chrono.
      if (!v || *v > 86'400'000) return "delay must be milliseconds in 0..86400000";
      out.delay_ms = *v;
    } else if (key == "size") {
      auto v = parse_u64(value);
      if (!v) return "size must be a non-negative number of bytes";
      out.size = *v;
    } else if (key == "chunked") {
      auto v = parse_flag(value);
      if (!v) return "chunked must be 0 or 1";
      out.chunked = *v;
    } else if (key == "echo") {
      if (value == "body") {
        out.echo = echo_mode::body;
      } else if (auto v = parse_flag(value)) {
        out.echo = *v ? echo_mode::json : echo_mode::none;
      } else {
        return "echo must be 1 or body";
      }
    } else if (key == "drop" || key == "reset" || key == "close") {
      auto v = parse_flag(value);
      if (!v) return std::string(key) + " must be 0 or 1";
      (key == "drop" ? out.drop : key == "reset" ? out.reset : out.close) = *v;
    } else if (key == "header") {
      auto colon = value.find(':');
      if (colon == std::string::npos || colon == 0) return "header must be Name:Value";
      std::string_view name = std::string_view(value).substr(0, colon);
      std::string_view val = trim(std::string_view(value).substr(colon + 1));
      for (unsigned char c : name)
        if (!is_token_char(c)) return "header name must be a token";
      for (unsigned char c : val)
        if (c == '\r' || c == '\n' || c == '\0') return "header value must not contain CR, LF or NUL";
      out.headers.emplace_back(std::string(name), std::string(val));
    }
  }
  return std::nullopt;
}

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 0xf];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

}  // namespace lb::backend
