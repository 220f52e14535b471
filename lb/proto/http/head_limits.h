#pragma once
// The line-level limits of a request head, checked once its size is within
// max_header_bytes.

#include <optional>
#include <string_view>

#include "lb/config/config.h"
#include "lb/proto/http/local_response.h"

namespace lb::proto::http {

// Thread: any. A request line over max_header_line_bytes is a target too
// long (414); any other line over it, or more than max_headers field lines,
// is 431. One memchr per line.
std::optional<local_status> head_shape_limit(std::string_view head, const config::limits& lim);

}  // namespace lb::proto::http
