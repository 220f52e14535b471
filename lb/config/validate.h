#pragma once
// String-level checks shared by the loader and `parse_address`. Control thread
// only (they allocate and compile regexes); exposed for unit tests.

#include <optional>
#include <string>
#include <string_view>

#include "lb/config/config.h"

namespace lb::config {

// RFC 1123 hostname: dot-separated labels of letters, digits and '-' (1..63
// bytes, no leading/trailing '-'), 253 bytes in all, one trailing dot allowed.
// The last label may not be all digits: "256.1.1.1" is a broken IPv4, not a name.
bool is_hostname(std::string_view s);

// [A-Za-z0-9_.-]+, at most 128 bytes: names end up in metric labels and logs.
bool is_name(std::string_view s);

// RFC 9110 token: what a header field name may be.
bool is_header_token(std::string_view s);

// No CR, LF or NUL: any of them would split or truncate a forwarded header.
bool is_header_value(std::string_view s);

// RFC 6265 cookie-octets (no space, DQUOTE, comma, semicolon, backslash or
// control), possibly empty: what a cookie value compared by a route may be.
bool is_cookie_value(std::string_view s);

// Framing and hop-by-hop headers lb manages itself; `set_headers` may not set
// them, or a route could make lb forward an ambiguous message.
bool is_reserved_header(std::string_view lower_name);

std::string to_lower(std::string_view s);

// A route's `match.host`: "api.example.com" (exact), "*.example.com" (suffix),
// "www.example.*" (prefix) or "~regex" (RE2, full match, case-insensitive).
// Returns nullopt with `error` set when the value has none of these forms.
std::optional<host_match> parse_host_match(std::string_view s, std::string& error);

// A pool's `hash_key`: "client_ip", "header:NAME" (NAME an RFC 9110 token,
// stored lower-case), "cookie:NAME" (an RFC 6265 cookie-name, which is a
// token too, kept as written: cookie names are case-sensitive), "path" or "sni"
// (TCP listeners: the ClientHello's server name).
// Returns nullopt with `error` set otherwise.
std::optional<hash_key> parse_hash_key(std::string_view s, std::string& error);

// What a health check may send as `Host`: a host name, an IPv4 literal or a
// bracketed IPv6 literal, each with an optional ":port".
bool is_host_header(std::string_view s);

// An origin-form request target ("/healthz?full=1"): starts with '/', and
// only visible ASCII, since a space or control byte would break the request line.
bool is_origin_form(std::string_view s);

// RE2's complaint about `pattern`, or "" when it compiles.
std::string regex_error(std::string_view pattern, bool case_insensitive);

}  // namespace lb::config
