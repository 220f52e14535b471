// Upstream response: head scan, Beast's response parser as the forwarder sets
// it up, the client head rewrite, then the body through a buffer_body in small
// pieces (chunked decoding when the response is chunked), as relay_body does.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/asio/buffer.hpp>

#include "lb/proto/http/head_scan.h"
#include "lb/proto/http/message.h"
#include "lb/proto/http/request_policy.h"
#include "lb/proto/http/rewrite.h"

namespace http = lb::proto::http;
namespace bhttp = boost::beast::http;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  http::head_scanner scanner;
  if (scanner.scan(in) != http::head_scanner::state::complete) return 0;
  alignas(std::max_align_t) char block[2048];
  lb::arena arena(block, sizeof block);
  http::response_parser p(std::piecewise_construct, std::make_tuple(), std::make_tuple(http::fields_allocator(arena)));
  p.header_limit(static_cast<std::uint32_t>(scanner.length() + 1));
  p.body_limit(http::unlimited_body);
  boost::beast::error_code ec;
  std::size_t used = p.put(boost::asio::buffer(in.data(), scanner.length()), ec);
  if (ec || !p.is_header_done() || used != scanner.length()) return 0;
  const auto& msg = p.get();
  const http::response_shape shape{p.chunked(), p.content_length().has_value(), p.is_done()};
  const auto f = http::response_framing(shape, 11, false);
  std::string out;
  http::write_response_head(out, msg.base(), 11, f, p.content_length().value_or(0), true, false);
  http::head_scanner again;
  if (again.scan(out) != http::head_scanner::state::complete || again.length() != out.size()) __builtin_trap();

  // Body: 7-byte reads into a 5-byte body buffer, the shapes that split
  // chunk sizes, extensions and CRLFs across calls.
  p.eager(true);
  std::string_view rest = in.substr(scanner.length());
  char body[5];
  std::size_t decoded = 0;
  std::string pending;
  while (!p.is_done()) {
    p.get().body().data = body;
    p.get().body().size = sizeof body;
    if (pending.empty()) {
      if (rest.empty()) break;
      const auto n = std::min<std::size_t>(7, rest.size());
      pending.assign(rest.substr(0, n));
      rest.remove_prefix(n);
    }
    std::size_t n = p.put(boost::asio::buffer(pending), ec);
    if (ec == bhttp::error::need_buffer) ec = {};
    if (ec == bhttp::error::need_more) {
      ec = {};
      if (rest.empty()) break;
      const auto m = std::min<std::size_t>(7, rest.size());
      pending.append(rest.substr(0, m));
      rest.remove_prefix(m);
    }
    if (ec) return 0;
    pending.erase(0, n);
    decoded += sizeof body - p.get().body().size;
    if (n == 0 && sizeof body == p.get().body().size && pending.empty() && rest.empty()) break;
  }
  // A Content-Length body that finished decoded exactly that many bytes (1xx,
  // 204 and 304 have none, whatever the head says).
  if (!shape.complete && p.content_length() && p.is_done() && !p.chunked() && decoded != *p.content_length())
    __builtin_trap();
  return 0;
}
