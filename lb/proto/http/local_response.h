#pragma once
// Responses lb answers itself (errors, limits, no route). Built once, shared,
// written straight from static storage: no formatting on the error path.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace lb::proto::http {

enum class local_status {
  ok = 200,  // OPTIONS with Max-Forwards: 0, answered as the final recipient
  bad_request = 400,
  forbidden = 403,  // a route's allow_from refused the client
  not_found = 404,
  method_not_allowed = 405,  // TRACE with Max-Forwards: 0 (lb reflects nothing)
  request_timeout = 408,
  payload_too_large = 413,
  uri_too_long = 414,
  header_too_large = 431,
  not_implemented = 501,
  bad_gateway = 502,
  service_unavailable = 503,
  gateway_timeout = 504,
  continue_ = 100,  // the interim "100 Continue" for Expect: 100-continue
};

// The whole wire response, head and short text body. `keep_alive` picks the
// Connection header; statuses that end the connection ignore it.
std::string_view local_response(local_status s, bool keep_alive);

// `429 Too Many Requests` with `Retry-After: retry_after` (per-client request
// rate), written into `out` (at least 256 bytes); returns the bytes used.
std::size_t too_many_requests(char* out, std::uint32_t retry_after, bool keep_alive);

// Whether lb closes the client connection after sending `s`.
bool closes_connection(local_status s);

}  // namespace lb::proto::http
