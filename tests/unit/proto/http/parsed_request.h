#pragma once
// A request or response head parsed the way the HTTP/1 plane parses it
// (fields in an arena), for tests of what the plane decides from it.

#include <string>

#include <boost/asio/buffer.hpp>

#include "lb/proto/http/message.h"

namespace lb::proto::http::test_support {

template <bool IsRequest>
struct parsed_head {
  explicit parsed_head(std::string head)
      : text(std::move(head)),
        a(block, sizeof block),
        p(std::piecewise_construct, std::make_tuple(), std::make_tuple(fields_allocator(a))) {
    boost::system::error_code ec;
    p.header_limit(16 * 1024);
    p.put(boost::asio::buffer(text), ec);
    header_done = p.is_header_done();
  }
  const auto& msg() const { return p.get(); }

  std::string text;
  char block[8192];
  arena a;
  parser<IsRequest> p;
  bool header_done = false;
};

using parsed_request = parsed_head<true>;
// A response head as the upstream side parses it.
using parsed_response = parsed_head<false>;

}  // namespace lb::proto::http::test_support
