#pragma once
// The key a hash balancer (ring_hash, maglev, ip_hash) places a request by,
// taken from what the pool's `hash_key` names.

#include <cstdint>
#include <optional>
#include <string_view>

#include "lb/config/config.h"
#include "lb/proto/http/message.h"

namespace lb::proto::http {

// Thread: any. The value of cookie `name` in the Cookie field(s), or nullopt.
std::optional<std::string_view> find_cookie(const fields& f, std::string_view name);

// Thread: any. The hash of the request's key: the client address, a header,
// a cookie, or the path without its query. A missing header or cookie hashes
// as empty, so such requests share one endpoint.
std::uint64_t request_hash(const config::hash_key& key, std::string_view client_ip, const request_message& msg);

}  // namespace lb::proto::http
