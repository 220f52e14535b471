#include "lb/proto/http/head_limits.h"

#include <cstring>

namespace lb::proto::http {

std::optional<local_status> head_shape_limit(std::string_view head, const config::limits& lim) {
  std::size_t lines = 0;
  for (std::size_t pos = 0; pos < head.size();) {
    const void* lf = std::memchr(head.data() + pos, '\n', head.size() - pos);
    const std::size_t end = lf ? static_cast<std::size_t>(static_cast<const char*>(lf) - head.data()) : head.size();
    const std::size_t len = end - pos;
    if (len > lim.max_header_line_bytes)
      return lines == 0 ? local_status::uri_too_long : local_status::header_too_large;
    if (len > 1) ++lines;  // not the final empty line
    pos = end + 1;
  }
  if (lines > lim.max_headers + 1) return local_status::header_too_large;
  return std::nullopt;
}

}  // namespace lb::proto::http
