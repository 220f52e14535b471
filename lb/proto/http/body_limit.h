#pragma once
// The most body bytes a routed request may carry, over HTTP/1.1 and HTTP/2.

#include <algorithm>
#include <cstdint>

#include "lb/config/config.h"

namespace lb::proto::http {

// The route's max_body_bytes lowers the listener's limits.max_body_bytes,
// never raises it; 0 is no limit.
inline std::uint64_t body_limit(const config::limits& lim, const config::route& route) {
  if (route.max_body_bytes == 0) return lim.max_body_bytes;
  return lim.max_body_bytes ? std::min(lim.max_body_bytes, route.max_body_bytes) : route.max_body_bytes;
}

}  // namespace lb::proto::http
