#include "lb/proto/http/request_policy.h"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/rfc7230.hpp>

namespace lb::proto::http {

namespace bhttp = boost::beast::http;

bool acceptable(const request_message& msg, bool chunked) {
  if (msg.version() != 10 && msg.version() != 11) return false;
  const auto target = msg.target();
  if (target.empty() || (target[0] != '/' && !(target == "*" && msg.method() == bhttp::verb::options)))
    return false;
  if (msg.method() == bhttp::verb::connect) return false;
  const auto hosts = msg.count(bhttp::field::host);
  if (hosts > 1 || (hosts == 0 && msg.version() == 11)) return false;
  if (msg.count(bhttp::field::transfer_encoding) != 0 && !chunked) return false;
  return true;
}

bool is_idempotent(bhttp::verb v) {
  switch (v) {
    case bhttp::verb::get:
    case bhttp::verb::head:
    case bhttp::verb::put:
    case bhttp::verb::delete_:
    case bhttp::verb::options:
    case bhttp::verb::trace: return true;
    default: return false;
  }
}

bool is_websocket_upgrade(const request_message& msg) {
  return msg.version() == 11 && msg.method() == bhttp::verb::get &&
         bhttp::token_list(msg[bhttp::field::connection]).exists("upgrade") &&
         boost::beast::iequals(msg[bhttp::field::upgrade], "websocket");
}

framing request_framing(bool has_body, bool chunked) {
  return !has_body ? framing::none : chunked ? framing::chunked : framing::length;
}

framing response_framing(const response_shape& r, unsigned client_version, bool upgraded) {
  if (upgraded) return framing::none;
  if (r.chunked) return client_version == 11 ? framing::chunked : framing::close;
  if (r.has_length) return framing::length;
  // Close-delimited upstream body: re-framed as chunked to keep the client.
  if (!r.complete) return client_version == 11 ? framing::chunked : framing::close;
  return framing::none;
}

bool keeps_client(bool client_keep_alive, bool draining, bool upgraded, framing res_framing, bool request_done,
                  bool upload_in_progress) {
  return client_keep_alive && !draining && !upgraded && res_framing != framing::close &&
         (request_done || upload_in_progress);
}

}  // namespace lb::proto::http
