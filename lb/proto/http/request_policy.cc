#include "lb/proto/http/request_policy.h"

#include <cctype>
#include <string>

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/rfc7230.hpp>

namespace lb::proto::http {

namespace bhttp = boost::beast::http;

namespace {

using boost::beast::iequals;

// The fields the checks below ask about, found in one walk of the head: an
// enum compare per field (Beast resolved known names when it parsed them),
// where each count() or operator[] would be a search of the field tree with
// a case-insensitive compare at every node. A head has a handful of fields.
struct head_fields {
  unsigned hosts = 0, lengths = 0, codings = 0, max_forwards = 0;
  std::string_view host, length, max_forwards_value;  // the first of each
};

head_fields scan(const fields& f) {
  head_fields h;
  for (const auto& v : f) {
    switch (v.name()) {
      case bhttp::field::host:
        if (h.hosts++ == 0) h.host = v.value();
        break;
      case bhttp::field::content_length:
        if (h.lengths++ == 0) h.length = v.value();
        break;
      case bhttp::field::transfer_encoding: ++h.codings; break;
      case bhttp::field::max_forwards:
        if (h.max_forwards++ == 0) h.max_forwards_value = v.value();
        break;
      default: break;
    }
  }
  return h;
}

// Transfer-Encoding over all its fields, in order: exactly one coding,
// `chunked`, is forwardable; chunked last after other codings would relabel
// what lb never decoded; anything else leaves the length unknown.
request_check transfer_coding(const fields& f, bool chunked) {
  std::size_t codings = 0, chunked_seen = 0;
  bool last_chunked = false;
  for (const auto& field : f) {
    if (field.name() != bhttp::field::transfer_encoding) continue;
    bool any = false;
    for (auto c : bhttp::token_list(field.value())) {
      any = true;
      ++codings;
      last_chunked = iequals(c, "chunked");
      chunked_seen += last_chunked;
    }
    if (!any) return request_check::bad;  // empty, or not a token list
  }
  if (codings == 0) return request_check::ok;
  if (!last_chunked || chunked_seen != 1 || !chunked) return request_check::bad;
  return codings == 1 ? request_check::ok : request_check::not_implemented;
}

// One Content-Length field of one value: RFC 9110 §8.6 lets a recipient fold
// equal repeats; lb refuses them instead.
bool single_length(const head_fields& h) {
  return h.lengths == 0 || (h.lengths == 1 && h.length.find(',') == std::string_view::npos);
}

bool all_digits(std::string_view v) {
  if (v.empty()) return false;
  for (char c : v)
    if (c < '0' || c > '9') return false;
  return true;
}

bool reg_name_char(unsigned char c) {
  // unreserved / sub-delims / pct-encoded's '%' (RFC 3986 §3.2.2); not ','
  // or ';' either, which no real name holds and list syntax would split on.
  return std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '%' || c == '!' || c == '$' ||
         c == '&' || c == '\'' || c == '(' || c == ')' || c == '*' || c == '+' || c == '=';
}

}  // namespace

bool valid_host(std::string_view v) {
  std::string_view host = v;
  std::string_view port;
  if (!v.empty() && v[0] == '[') {
    const auto close = v.find(']');
    if (close == std::string_view::npos) return false;
    for (char c : v.substr(1, close - 1))
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') return false;
    if (close == 1) return false;
    const auto rest = v.substr(close + 1);
    if (rest.empty()) return true;
    if (rest[0] != ':') return false;
    port = rest.substr(1);
    return all_digits(port) && port.size() <= 5 && std::stoul(std::string(port)) <= 65535;
  }
  if (const auto colon = v.find(':'); colon != std::string_view::npos) {
    host = v.substr(0, colon);
    port = v.substr(colon + 1);
    if (!all_digits(port) || port.size() > 5 || std::stoul(std::string(port)) > 65535) return false;
  }
  for (char c : host)
    if (!reg_name_char(static_cast<unsigned char>(c))) return false;
  return true;
}

request_check check_request(const request_message& msg, bool chunked) {
  if (msg.version() != 10 && msg.version() != 11) return request_check::bad;
  if (msg.method() == bhttp::verb::connect) return request_check::not_implemented;
  const auto target = msg.target();
  if (target.empty() || (target[0] != '/' && !(target == "*" && msg.method() == bhttp::verb::options)))
    return request_check::bad;
  const auto h = scan(msg);
  if (h.hosts > 1 || (h.hosts == 0 && msg.version() == 11)) return request_check::bad;
  if (h.hosts == 1 && !valid_host(h.host)) return request_check::bad;
  if (!single_length(h)) return request_check::bad;
  if (h.codings != 0) {
    // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing.
    if (msg.version() == 10) return request_check::bad;
    if (const auto te = transfer_coding(msg, chunked); te != request_check::ok) return te;
  }
  if (msg.method() == bhttp::verb::options || msg.method() == bhttp::verb::trace) {
    if (h.max_forwards > 1 || (h.max_forwards == 1 && !all_digits(h.max_forwards_value))) return request_check::bad;
  }
  return request_check::ok;
}

bool response_acceptable(const response_message& msg, bool chunked) {
  if (msg.version() != 10 && msg.version() != 11) return false;
  if (msg.result_int() < 100 || msg.result_int() > 599) return false;
  const auto h = scan(msg);
  if (!single_length(h)) return false;
  if (h.codings == 0) return true;
  return msg.version() == 11 && transfer_coding(msg, chunked) == request_check::ok;
}

bool answer_max_forwards_here(const request_message& msg) {
  if (msg.method() != bhttp::verb::options && msg.method() != bhttp::verb::trace) return false;
  const auto mf = msg.find(bhttp::field::max_forwards);
  return mf != msg.end() && mf->value().find_first_not_of('0') == std::string_view::npos;
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
