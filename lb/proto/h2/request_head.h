#pragma once
// An HTTP/2 request as the HTTP/1.1 upstream gets it (RFC 9113 §8.3.1, RFC
// 9110 §7.6.1): `:authority` becomes Host, cookie fields are joined into one
// (§8.2.3), the forwarding fields say who the client was, and the body
// framing is lb's. Connection-specific fields never reach here: nghttp2's
// message checks refuse a request that carries them (§8.2.2).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lb/config/config.h"
#include "lb/proto/http/trace_context.h"
#include "lb/proto/client_cert_fields.h"

namespace lb::proto::h2 {

struct header_field {
  std::string_view name;  // lower-case, as HTTP/2 requires
  std::string_view value;
};

// What a request stream carried in its header block; the views point into
// the stream's own storage.
struct request_fields {
  std::string_view method, scheme, authority, path;
  std::vector<header_field> fields;  // regular fields, in order

  // The Host the request names: `:authority`, else a Host field.
  std::string_view host() const;
  // The first value of `name` (compared case-insensitively), or empty.
  const header_field* find(std::string_view name) const;
};

// How the body goes upstream: none, a length known in advance, or chunked.
enum class body_framing { none, length, chunked };

// Thread: any. Appends the HTTP/1.1 request head to `out`. With `ids`,
// X-Request-Id and the trace context fields are as decided there; the fields
// `cc` names are lb's (the client's are dropped). `path`, when given,
// replaces the request's (a route's rewrite).
void write_upstream_head(std::string& out, const request_fields& rq, body_framing f, std::uint64_t length,
                         std::string_view client_ip, std::string_view forwarded_proto, const config::route& route,
                         const http::trace_ids* ids = nullptr, const client_cert_fields& cc = {},
                         std::string_view path = {});

}  // namespace lb::proto::h2
