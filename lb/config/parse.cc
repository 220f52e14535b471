#include "lb/config/parse.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>

#include "lb/config/validate.h"

namespace lb::config {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Milliseconds per unit; 0 for an unknown unit.
std::int64_t unit_millis(std::string_view unit) {
  if (unit == "ms") return 1;
  if (unit == "s") return 1000;
  if (unit == "m") return 60 * 1000;
  if (unit == "h") return 60 * 60 * 1000;
  return 0;
}

}  // namespace

std::optional<std::uint64_t> parse_digits(std::string_view s) {
  // Checked first: from_chars alone would accept a leading '-' and stop early on junk.
  if (s.empty()) return std::nullopt;
  for (char c : s) {
    if (!is_digit(c)) return std::nullopt;
  }
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

namespace {

std::optional<std::uint16_t> parse_port(std::string_view s) {
  // Five digits at most keeps "000000080"-style padding out of addresses.
  if (s.size() > 5) return std::nullopt;
  auto v = parse_digits(s);
  if (!v || *v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(*v);
}

bool is_ipv4(const std::string& host) {
  in_addr a{};
  return inet_pton(AF_INET, host.c_str(), &a) == 1;
}

bool is_ipv6(const std::string& host) {
  in6_addr a{};
  return inet_pton(AF_INET6, host.c_str(), &a) == 1;
}

}  // namespace

std::optional<duration> parse_duration(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && is_digit(s[i])) ++i;
  auto value = parse_digits(s.substr(0, i));
  const std::int64_t per_unit = unit_millis(s.substr(i));
  if (!value || per_unit == 0) return std::nullopt;
  // duration::rep is a signed 64-bit count of milliseconds.
  if (*value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max() / per_unit)) {
    return std::nullopt;
  }
  return duration(static_cast<std::int64_t>(*value) * per_unit);
}

std::optional<address> parse_address(std::string_view s) {
  address out;
  std::string_view port;
  if (!s.empty() && s.front() == '[') {
    const auto close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') {
      return std::nullopt;
    }
    out.host = std::string(s.substr(1, close - 1));
    port = s.substr(close + 2);
    if (!is_ipv6(out.host)) return std::nullopt;
  } else {
    const auto colon = s.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    out.host = std::string(s.substr(0, colon));
    port = s.substr(colon + 1);
    // An unbracketed IPv6 literal is ambiguous ("::1:80"): brackets are required.
    if (out.host.find(':') != std::string::npos) return std::nullopt;
    if (!is_ipv4(out.host)) {
      if (!is_hostname(out.host)) return std::nullopt;
      out.is_hostname = true;
    }
  }
  auto p = parse_port(port);
  if (!p) return std::nullopt;
  out.port = *p;
  return out;
}

std::optional<cidr> parse_cidr(std::string_view s) {
  const auto slash = s.find('/');
  const std::string host(s.substr(0, slash));
  cidr out;
  if (::inet_pton(AF_INET, host.c_str(), out.bytes.data()) == 1) {
    out.v6 = false;
  } else if (::inet_pton(AF_INET6, host.c_str(), out.bytes.data()) == 1) {
    out.v6 = true;
  } else {
    return std::nullopt;
  }
  const std::uint64_t width = out.v6 ? 128 : 32;
  std::uint64_t prefix = width;
  if (slash != std::string_view::npos) {
    const auto p = parse_digits(s.substr(slash + 1));
    if (!p || *p > width) return std::nullopt;
    prefix = *p;
  }
  out.prefix = static_cast<std::uint8_t>(prefix);
  for (std::size_t bit = prefix; bit < width; ++bit)
    if (out.bytes[bit / 8] & (0x80 >> (bit % 8))) return std::nullopt;
  return out;
}

std::string format_duration(duration d) {
  const auto ms = d.count();
  if (ms == 0) return "0s";
  for (auto [unit, per] : {std::pair<const char*, std::int64_t>{"h", 60 * 60 * 1000},
                           {"m", 60 * 1000},
                           {"s", 1000}}) {
    if (ms % per == 0) return std::to_string(ms / per) + unit;
  }
  return std::to_string(ms) + "ms";
}

std::optional<status_range> parse_status_range(std::string_view s) {
  const auto dash = s.find('-');
  const auto min = parse_digits(s.substr(0, dash));
  if (!min) return std::nullopt;
  if (dash == std::string_view::npos) return status_range{*min, *min};
  const auto max = parse_digits(s.substr(dash + 1));
  if (!max) return std::nullopt;
  return status_range{*min, *max};
}

}  // namespace lb::config
