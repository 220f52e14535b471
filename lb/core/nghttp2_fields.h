#pragma once
// Header fields handed to nghttp2, shared by the client-facing HTTP/2 plane
// and the upstream HTTP/2 streams.

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace lb {

// A field nghttp2 copies on submit: the views need only outlive the call.
inline nghttp2_nv nv(std::string_view name, std::string_view value) {
  return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}

// Appends `name` lower-cased (HTTP/2 field names are lower-case, RFC 9113
// §8.2) to `out` and returns its length there; `out` must have the room
// reserved, so the views of earlier names stay valid.
inline std::string_view append_lower(std::string& out, std::string_view name) {
  const auto at = out.size();
  out.append(name);  // then lower-cased in place: no capacity check per byte
  char* const p = out.data() + at;
  for (std::size_t i = 0; i < name.size(); ++i)
    if (p[i] >= 'A' && p[i] <= 'Z') p[i] = static_cast<char>(p[i] + ('a' - 'A'));
  return {p, name.size()};
}

}  // namespace lb
