#pragma once
// The decisions the HTTP/1 plane takes about a request and its response, as
// pure functions of the parsed heads: what is acceptable to forward, what is
// safe to retry, how each body is framed on the next hop and whether the
// client connection stays open. No I/O, so each is unit-tested alone.

#include <cstdint>
#include <string_view>

#include <boost/beast/http/verb.hpp>

#include "lb/proto/http/message.h"
#include "lb/proto/http/rewrite.h"

namespace lb::proto::http {

// What lb does with a request Beast parsed (docs/http-conformance.md).
enum class request_check {
  ok,
  bad,              // 400 and close: ambiguous or invalid, never forwarded
  not_implemented,  // 501 and close: CONNECT, or a transfer coding lb would have to relabel
};

// Thread: any. Whether a request Beast parsed may be forwarded: HTTP/1.0 or
// 1.1, an origin-form target (or `OPTIONS *`), not CONNECT, exactly one valid
// Host (none allowed for 1.0), one Content-Length of one value, a
// Transfer-Encoding (1.1 only) that is exactly `chunked` (decoded, so the
// length is never ambiguous between hops), and a numeric Max-Forwards.
request_check check_request(const request_message& msg, bool chunked);

// Thread: any. A Host field value: uri-host [":" port] (RFC 9110 §7.2,
// RFC 3986 §3.2.2); empty is valid.
bool valid_host(std::string_view v);

// Thread: any. Whether a response head from an upstream may be relayed:
// HTTP/1.0 or 1.1, a status from 100 to 599, one Content-Length of one value,
// and a Transfer-Encoding (1.1 only) that is exactly `chunked`. Anything else
// is a 502 (RFC 9112 §6.3).
bool response_acceptable(const response_message& msg, bool chunked);

// Thread: any. OPTIONS and TRACE with `Max-Forwards: 0` are answered by lb
// itself (RFC 9110 §7.6.2).
bool answer_max_forwards_here(const request_message& msg);

// Thread: any. RFC 9110 §9.2.2 idempotent methods: a failed attempt may be
// repeated on another endpoint.
bool is_idempotent(boost::beast::http::verb v);

// Thread: any. An HTTP/1.1 GET asking to switch to WebSocket.
bool is_websocket_upgrade(const request_message& msg);

// How the request body goes upstream: none, the same length, or re-chunked.
framing request_framing(bool has_body, bool chunked);

// What a response head says of its body, as the upstream parser saw it.
struct response_shape {
  bool chunked = false;
  bool has_length = false;  // Content-Length given
  bool complete = false;    // no body to come (e.g. 204, 304, HEAD)
};

// Thread: any. How the response body goes to a client speaking
// `client_version` (10 or 11): HTTP/1.0 has no chunked coding, so a body of
// unknown length ends with the connection; an upgraded connection has none.
framing response_framing(const response_shape& r, unsigned client_version, bool upgraded);

// Thread: any. Whether the client connection stays open after a response,
// decided when its head is written: the client asked for keep-alive, lb is
// not draining, nothing was upgraded, the framing does not end with the
// connection, and the request was read whole (or is still being read by an
// upload, which must then finish first).
bool keeps_client(bool client_keep_alive, bool draining, bool upgraded, framing res_framing, bool request_done,
                  bool upload_in_progress);

}  // namespace lb::proto::http
