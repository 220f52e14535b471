#include "lb/proto/http/local_response.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <string>

namespace lb::proto::http {

namespace {

struct canned {
  local_status status;
  std::string_view reason;
  std::string_view extra = {};  // more header lines, each ending in CRLF
};

constexpr std::array<canned, 13> table{{
    {local_status::ok, "OK", "Allow: GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH\r\n"},
    {local_status::bad_request, "Bad Request"},
    {local_status::forbidden, "Forbidden"},
    {local_status::not_found, "Not Found"},
    {local_status::method_not_allowed, "Method Not Allowed", "Allow: GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH\r\n"},
    {local_status::request_timeout, "Request Timeout"},
    {local_status::payload_too_large, "Payload Too Large"},
    {local_status::uri_too_long, "URI Too Long"},
    {local_status::header_too_large, "Request Header Fields Too Large"},
    {local_status::not_implemented, "Not Implemented"},
    {local_status::bad_gateway, "Bad Gateway"},
    {local_status::service_unavailable, "Service Unavailable"},
    {local_status::gateway_timeout, "Gateway Timeout"},
}};

std::string build(const canned& c, bool keep_alive) {
  const std::string code = std::to_string(static_cast<int>(c.status));
  const std::string body = code + " " + std::string(c.reason) + "\n";
  return "HTTP/1.1 " + code + " " + std::string(c.reason) +
         "\r\n" + std::string(c.extra) +
         "Content-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
         (keep_alive ? "\r\n" : "\r\nConnection: close\r\n") + "\r\n" + body;
}

struct rendered {
  std::array<std::string, table.size()> keep;
  std::array<std::string, table.size()> close;
  rendered() {
    for (std::size_t i = 0; i < table.size(); ++i) {
      keep[i] = build(table[i], true);
      close[i] = build(table[i], false);
    }
  }
};

const rendered& all() {
  static const rendered r;  // thread-safe static init; read-only afterwards
  return r;
}

}  // namespace

bool closes_connection(local_status s) {
  switch (s) {
    case local_status::bad_request:
    case local_status::request_timeout:
    case local_status::payload_too_large:
    case local_status::uri_too_long:
    case local_status::header_too_large:
    case local_status::not_implemented: return true;
    default: return false;
  }
}

std::size_t too_many_requests(char* out, std::uint32_t retry_after, bool keep_alive) {
  constexpr std::string_view head = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: ";
  constexpr std::string_view rest =
      "\r\nContent-Type: text/plain\r\nContent-Length: 22\r\n";
  constexpr std::string_view body = "429 Too Many Requests\n";
  char* p = std::copy(head.begin(), head.end(), out);
  p = std::to_chars(p, p + 10, retry_after).ptr;
  p = std::copy(rest.begin(), rest.end(), p);
  if (!keep_alive) {
    constexpr std::string_view close = "Connection: close\r\n";
    p = std::copy(close.begin(), close.end(), p);
  }
  *p++ = '\r';
  *p++ = '\n';
  p = std::copy(body.begin(), body.end(), p);
  return static_cast<std::size_t>(p - out);
}

std::string_view local_response(local_status s, bool keep_alive) {
  if (s == local_status::continue_) return "HTTP/1.1 100 Continue\r\n\r\n";
  const auto& r = all();
  for (std::size_t i = 0; i < table.size(); ++i)
    if (table[i].status == s) return (keep_alive && !closes_connection(s)) ? r.keep[i] : r.close[i];
  return r.close[0];
}

}  // namespace lb::proto::http
