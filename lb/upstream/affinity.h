#pragma once
// Cookie-inserting session affinity (`affinity:` on a pool). The cookie's
// value names an endpoint by a hash of its address: the same on every worker,
// replica and reload, and it does not show the address to the client. A
// request whose cookie names an endpoint that can take it goes there; any
// other request is balanced, and its response sets the cookie.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "lb/config/config.h"
#include "lb/upstream/pool_snapshot.h"

namespace lb::upstream {

inline constexpr std::size_t no_endpoint = static_cast<std::size_t>(-1);

// The id of the endpoint labelled `label` ("ip:port", "host:port@ip").
std::uint64_t affinity_id(std::string_view label);

// The Set-Cookie attributes after the value: "; Path=/; HttpOnly".
std::string affinity_attributes(const config::affinity_cookie& a);

// Thread: worker. The endpoint of `pool` that `value` (16 hex digits) names,
// else no_endpoint.
std::size_t affinity_endpoint(const pool_snapshot& pool, std::string_view value);

// Thread: worker. Replaces `out` with the Set-Cookie value that names
// endpoint `i` ("NAME=0123456789abcdef; Path=/; HttpOnly").
void affinity_cookie_value(std::string& out, const pool_snapshot& pool, std::size_t i);

}  // namespace lb::upstream
