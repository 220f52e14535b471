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

// Framing and hop-by-hop headers lb manages itself; `set_headers` may not set
// them, or a route could make lb forward an ambiguous message.
bool is_reserved_header(std::string_view lower_name);

std::string to_lower(std::string_view s);

// A route's `match.host`: "api.example.com" (exact), "*.example.com" (suffix),
// "www.example.*" (prefix) or "~regex" (RE2, full match, case-insensitive).
// Returns nullopt with `error` set when the value has none of these forms.
std::optional<host_match> parse_host_match(std::string_view s, std::string& error);

// RE2's complaint about `pattern`, or "" when it compiles.
std::string regex_error(std::string_view pattern, bool case_insensitive);

}  // namespace lb::config
