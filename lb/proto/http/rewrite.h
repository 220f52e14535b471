#pragma once
// Header rewriting at the proxy boundary (RFC 9110 §7.6.1): hop-by-hop fields
// never cross it; forwarding fields say who the client was.

#include <string_view>

#include <boost/beast/http/fields.hpp>

#include "lb/config/config.h"

namespace lb::proto::http {

// Thread: worker. Prepares a client request's fields for the upstream.
// `upgrade` keeps Upgrade and sends `Connection: upgrade`.
void rewrite_request(boost::beast::http::fields& f, std::string_view client_ip, bool upgrade,
                     const config::route& route);

// Thread: worker. Prepares an upstream response's fields for the client; the
// caller then sets keep-alive for the client connection.
void rewrite_response(boost::beast::http::fields& f, bool upgrade);

}  // namespace lb::proto::http
