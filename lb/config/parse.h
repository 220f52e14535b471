#pragma once
// Scalar parsers shared by the loader and its tests. Each returns nullopt on bad input.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "lb/config/config.h"

namespace lb::config {

// An unsigned decimal integer: digits only (no sign, spaces or "0x"), and it
// must fit in 64 bits. Leading zeros are fine ("007" is 7).
std::optional<std::uint64_t> parse_digits(std::string_view s);

// "250ms", "2s", "5m", "1h", "0s". A bare number is refused (unit required).
std::optional<duration> parse_duration(std::string_view s);

// "host:port" or "[v6]:port", port 0..65535. Sets `is_hostname` for non-IP hosts.
std::optional<address> parse_address(std::string_view s);

// The shortest text parse_duration reads back as `d`: the largest unit that
// divides it exactly ("90s", "2m", "1500ms", "0s"). For messages and dumps.
std::string format_duration(duration d);

// "10.0.0.0/8", "2001:db8::/32", or a bare address (the whole width). Host
// bits past the prefix must be zero, so a typo does not widen the block.
std::optional<cidr> parse_cidr(std::string_view s);

// An inclusive range of HTTP status codes.
struct status_range {
  std::uint64_t min = 0;
  std::uint64_t max = 0;
};

// "200" (min = max) or "200-399": digits only, no spaces. Only the syntax is
// checked; whether the codes are real statuses, in order, is the caller's call.
std::optional<status_range> parse_status_range(std::string_view s);

}  // namespace lb::config
