#pragma once
// Scalar parsers shared by the loader and its tests. Each returns nullopt on bad input.

#include <cstdint>
#include <optional>
#include <string_view>

#include "lb/config/config.h"

namespace lb::config {

// "250ms", "2s", "5m", "1h", "0s". A bare number is refused (unit required).
std::optional<duration> parse_duration(std::string_view s);

// "host:port" or "[v6]:port", port 0..65535. Sets `is_hostname` for non-IP hosts.
std::optional<address> parse_address(std::string_view s);

}  // namespace lb::config
