#pragma once
// The Beast message types of the HTTP/1 plane: parsed fields live in a
// per-exchange arena (no malloc per field), bodies are never stored (the
// buffer_body parser hands them over piece by piece to be relayed).

#include <cstdint>
#include <limits>

#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/parser.hpp>

#include "lb/core/arena.h"

namespace lb::proto::http {

using fields_allocator = arena_allocator<char>;
using fields = boost::beast::http::basic_fields<fields_allocator>;
template <bool is_request>
using parser = boost::beast::http::parser<is_request, boost::beast::http::buffer_body, fields_allocator>;
using request_parser = parser<true>;
using response_parser = parser<false>;
using request_message = boost::beast::http::request<boost::beast::http::buffer_body, fields>;
using response_message = boost::beast::http::response<boost::beast::http::buffer_body, fields>;

// Not boost::none: Beast 1.74 compares `len_ > body_limit_` with an empty
// optional as always true, so "no limit" must be the largest value.
constexpr std::uint64_t unlimited_body = std::numeric_limits<std::uint64_t>::max();

}  // namespace lb::proto::http
