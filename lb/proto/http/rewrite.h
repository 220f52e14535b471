#pragma once
// Writes the head lb sends across the proxy boundary (RFC 9110 §7.6.1) in one
// pass over the parsed fields: hop-by-hop fields are left out, the body
// framing is lb's own, and the forwarding fields say who the client was. The
// parsed message is never mutated, so no field-set rebalancing per request.

#include <charconv>
#include <system_error>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/rfc7230.hpp>

#include "lb/config/config.h"
#include "lb/proto/http/trace_context.h"
#include "lb/proto/client_cert_fields.h"

namespace lb::proto::http {

// How a body is delimited on the wire lb writes.
enum class framing { none, length, chunked, close };

namespace detail {

// Names listed in Connection. A message rarely has any, so the first few are
// kept in a fixed array; past that, the Connection fields are read again.
template <class Fields>
class connection_tokens {
 public:
  explicit connection_tokens(const Fields& f) : fields_(f) {
    for (auto [it, end] = f.equal_range(boost::beast::http::field::connection); it != end; ++it)
      for (auto token : boost::beast::http::token_list(it->value())) {
        if (count_ < max) names_[count_++] = token;
        else overflow_ = true;
      }
  }

  bool names_field(std::string_view name) const {
    for (std::size_t i = 0; i < count_; ++i)
      if (boost::beast::iequals(names_[i], name)) return true;
    if (!overflow_) return false;
    for (auto [it, end] = fields_.equal_range(boost::beast::http::field::connection); it != end; ++it)
      if (boost::beast::http::token_list(it->value()).exists(name)) return true;
    return false;
  }

 private:
  static constexpr std::size_t max = 8;
  const Fields& fields_;
  std::string_view names_[max];
  std::size_t count_ = 0;
  bool overflow_ = false;
};

inline bool is_proxy_prefixed(std::string_view name) {
  return name.size() > 6 && boost::beast::iequals(name.substr(0, 6), "proxy-");
}

// Fields that never cross a hop, whatever the message (RFC 9110 §7.6.1),
// plus the framing fields lb always writes itself.
template <class Value, class Fields>
bool is_hop_by_hop(const Value& v, const connection_tokens<Fields>& tokens, bool upgrade) {
  using boost::beast::http::field;
  switch (v.name()) {
    case field::connection:
    case field::keep_alive:
    case field::te:
    case field::trailer:
    case field::proxy_connection:
    case field::proxy_authenticate:
    case field::proxy_authorization:
    case field::content_length:
    case field::transfer_encoding: return true;
    case field::upgrade: return !upgrade;
    case field::host: return false;
    default: break;
  }
  const auto name = v.name_string();
  if (v.name() == field::unknown && is_proxy_prefixed(name)) return true;
  return tokens.names_field(name);
}

inline void append_field(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ").append(value).append("\r\n");
}

// Max-Forwards minus one; the value was checked to be all digits, and one
// too long for 64 bits is clamped to the largest lb forwards.
inline void append_decremented(std::string& out, std::string_view value) {
  std::uint64_t n = 0;
  const auto r = std::from_chars(value.data(), value.data() + value.size(), n);
  if (r.ec != std::errc{}) n = 1u << 20;
  char buf[24];
  const auto* end = std::to_chars(buf, buf + sizeof buf, n == 0 ? 0 : n - 1).ptr;
  out.append("Max-Forwards: ").append(buf, static_cast<std::size_t>(end - buf)).append("\r\n");
}

inline void append_framing(std::string& out, framing f, std::uint64_t length) {
  if (f == framing::length) {
    char buf[24];
    const auto* end = std::to_chars(buf, buf + sizeof buf, length).ptr;
    out.append("Content-Length: ").append(buf, static_cast<std::size_t>(end - buf)).append("\r\n");
  } else if (f == framing::chunked) {
    out.append("Transfer-Encoding: chunked\r\n");
  }
}

}  // namespace detail

// Thread: worker. Appends the upstream request head to `out`. Leaves out
// hop-by-hop fields and Expect (lb answers 100-continue itself); replaces
// X-Forwarded-For (appending the client), X-Real-IP, X-Forwarded-Proto (the
// scheme the client used on the listener: `forwarded_proto`) and the route's
// set_headers and the client-certificate fields `cc` names (whatever the
// client sent in them); keeps Host. `target`, when given, replaces the
// request's (a route's rewrite). With `ids`, X-Request-Id and the trace
// context fields are as decided there (trace_context.h).
template <class Fields>
void write_request_head(std::string& out, const boost::beast::http::header<true, Fields>& h, framing f,
                        std::uint64_t length, std::string_view client_ip, std::string_view forwarded_proto,
                        bool upgrade, const config::route& route, const trace_ids* ids = nullptr,
                        const client_cert_fields& cc = {}, std::string_view target = {}) {
  using boost::beast::iequals;
  using boost::beast::http::field;
  const detail::connection_tokens<Fields> tokens(h);
  // RFC 9110 §7.6.2: OPTIONS and TRACE count their hops (zero is answered
  // by lb before this).
  const bool decrements_max_forwards =
      h.method() == boost::beast::http::verb::options || h.method() == boost::beast::http::verb::trace;
  out.append(h.method_string()).append(" ").append(target.empty() ? h.target() : target).append(" HTTP/1.1\r\n");
  bool has_xff = false;
  for (const auto& v : h) {
    if (detail::is_hop_by_hop(v, tokens, upgrade) || v.name() == field::expect) continue;
    const auto name = v.name_string();
    if (v.name() == field::unknown) {
      if (iequals(name, "x-forwarded-for")) {
        has_xff = true;  // written below, with the client appended
        continue;
      }
      if (iequals(name, "x-real-ip") || iequals(name, "x-forwarded-proto")) continue;
      if (ids && replaced_trace_field(name, *ids)) continue;
    }
    bool replaced = false;
    for (const auto& [set_name, set_value] : route.set_headers) replaced |= iequals(name, set_name);
    if (replaced || (cc.any_name() && cc.owns(name))) continue;
    if (v.name() == field::max_forwards && decrements_max_forwards) {
      detail::append_decremented(out, v.value());
      continue;
    }
    detail::append_field(out, name, v.value());
  }
  // Several X-Forwarded-For fields form one list; the client joins its end.
  out.append("X-Forwarded-For: ");
  if (has_xff)
    for (auto [it, end] = h.equal_range("X-Forwarded-For"); it != end; ++it) out.append(it->value()).append(", ");
  out.append(client_ip).append("\r\n");
  detail::append_field(out, "X-Real-IP", client_ip);
  detail::append_field(out, "X-Forwarded-Proto", forwarded_proto);
  if (ids) append_trace_fields(out, *ids);
  // A gateway MUST add itself to Via (RFC 9110 §7.6.3), after any received.
  detail::append_field(out, "Via", h.version() == 10 ? "1.0 lb" : "1.1 lb");
  for (const auto& [set_name, set_value] : route.set_headers) detail::append_field(out, set_name, set_value);
  cc.write([&](std::string_view n, std::string_view v) { detail::append_field(out, n, v); });
  detail::append_framing(out, f, length);
  if (upgrade) out.append("Connection: upgrade\r\n");
  out.append("\r\n");
}

// Thread: worker. Appends the client response head to `out` in the client's
// HTTP version, with lb's framing and keep-alive decision. A non-empty
// `request_id` replaces any X-Request-Id the upstream sent.
template <class Fields>
void write_response_head(std::string& out, const boost::beast::http::header<false, Fields>& h, unsigned version,
                         framing f, std::uint64_t length, bool keep_alive, bool upgrade,
                         std::string_view request_id = {}) {
  const detail::connection_tokens<Fields> tokens(h);
  char code[4] = {static_cast<char>('0' + h.result_int() / 100 % 10), static_cast<char>('0' + h.result_int() / 10 % 10),
                  static_cast<char>('0' + h.result_int() % 10), ' '};
  out.append(version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ").append(code, 4).append(h.reason()).append("\r\n");
  for (const auto& v : h) {
    if (detail::is_hop_by_hop(v, tokens, upgrade)) continue;
    const auto name = v.name_string();
    if (!request_id.empty() && name.size() == 12 && boost::beast::iequals(name, "x-request-id")) continue;
    detail::append_field(out, name, v.value());
  }
  if (!request_id.empty()) detail::append_field(out, "X-Request-Id", request_id);
  detail::append_framing(out, f, length);
  if (upgrade) out.append("Connection: upgrade\r\n");
  else if (version == 10 && keep_alive) out.append("Connection: keep-alive\r\n");
  else if (version == 11 && !keep_alive) out.append("Connection: close\r\n");
  out.append("\r\n");
}

// Thread: worker. Adds `Set-Cookie: value` to a head write_response_head
// made, before its blank line (pool affinity; kept out of
// write_response_head, whose inlining it would change for every response).
inline void add_set_cookie(std::string& head, std::string_view value) {
  // Each insert moves only the final CRLF: no copy of the head, and no
  // allocation within the head's reserved room.
  const auto at = head.size() - 2;
  head.insert(at, "\r\n");
  head.insert(at, value);
  head.insert(at, "Set-Cookie: ");
}

}  // namespace lb::proto::http
