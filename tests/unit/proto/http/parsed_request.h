#pragma once
// A request head parsed the way the HTTP/1 plane parses it (fields in an
// arena), for tests of what the plane decides from a parsed head.

#include <string>

#include <boost/asio/buffer.hpp>

#include "lb/proto/http/message.h"

namespace lb::proto::http::test_support {

struct parsed_request {
  explicit parsed_request(std::string head)
      : text(std::move(head)),
        a(block, sizeof block),
        p(std::piecewise_construct, std::make_tuple(), std::make_tuple(fields_allocator(a))) {
    boost::system::error_code ec;
    p.header_limit(16 * 1024);
    p.put(boost::asio::buffer(text), ec);
    header_done = p.is_header_done();
  }
  const request_message& msg() const { return p.get(); }

  std::string text;
  char block[8192];
  arena a;
  request_parser p;
  bool header_done = false;
};

}  // namespace lb::proto::http::test_support
