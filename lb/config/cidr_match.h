#pragma once
// Whether an address lies in a CIDR block, on the address's network-order
// bytes (4 for an IPv4 block, 16 for IPv6): PROXY trust, request-ID trust and
// client-limit allowlists all match this way.

#include <cstddef>
#include <cstdint>

#include "lb/config/config.h"

namespace lb::config {

inline bool cidr_contains(const cidr& c, const std::uint8_t* bytes) {
  const std::size_t full = c.prefix / 8, rest = c.prefix % 8;
  for (std::size_t i = 0; i < full; ++i)
    if (bytes[i] != c.bytes[i]) return false;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xFF << (8 - rest));
  return (bytes[full] & mask) == (c.bytes[full] & mask);
}

}  // namespace lb::config
