// Request head: the scanner that finds where a head ends, then Beast's parser
// as lb configures it (arena fields, header limit), then the upstream head
// rewrite over what was parsed. The scanner and the parser must agree: a head
// the scanner calls complete is fed whole to the parser.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/asio/buffer.hpp>

#include "lb/config/config.h"
#include "lb/proto/http/head_scan.h"
#include "lb/proto/http/message.h"
#include "lb/proto/http/request_policy.h"
#include "lb/proto/http/rewrite.h"

namespace http = lb::proto::http;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  in.remove_prefix(http::leading_empty_lines(in));
  // Fed in two pieces, as a head split across reads arrives.
  http::head_scanner scanner;
  const std::size_t split = size ? data[0] % (in.size() + 1) : 0;
  auto st = scanner.scan(in.substr(0, split));
  if (st == http::head_scanner::state::need_more) st = scanner.scan(in);
  if (st != http::head_scanner::state::complete) return 0;
  if (scanner.length() > in.size()) __builtin_trap();

  alignas(std::max_align_t) char block[2048];
  lb::arena arena(block, sizeof block);
  http::request_parser p(std::piecewise_construct, std::make_tuple(), std::make_tuple(http::fields_allocator(arena)));
  p.header_limit(16384);
  p.eager(false);
  boost::beast::error_code ec;
  const auto head = in.substr(0, scanner.length());
  p.put(boost::asio::buffer(head.data(), head.size()), ec);
  if (ec || !p.is_header_done()) return 0;
  const auto& msg = p.get();
  const bool chunked = p.chunked();
  if (http::check_request(msg, chunked) != http::request_check::ok) return 0;
  lb::config::route route;
  route.set_headers = {{"X-Set", "v"}};
  std::string out;
  http::write_request_head(out, msg.base(), http::request_framing(p.content_length() || chunked, chunked),
                           p.content_length().value_or(0), "127.0.0.1", "http", http::is_websocket_upgrade(msg),
                           route);
  // The rewritten head must itself be one complete head.
  http::head_scanner again;
  if (again.scan(out) != http::head_scanner::state::complete || again.length() != out.size()) __builtin_trap();
  return 0;
}
