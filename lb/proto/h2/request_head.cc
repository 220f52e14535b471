#include "lb/proto/h2/request_head.h"

#include <charconv>

#include <boost/beast/core/string.hpp>

namespace lb::proto::h2 {

using boost::beast::iequals;

std::string_view request_fields::host() const {
  if (!authority.empty()) return authority;
  if (const auto* h = find("host")) return h->value;
  return {};
}

const header_field* request_fields::find(std::string_view name) const {
  for (const auto& f : fields)
    if (iequals(f.name, name)) return &f;
  return nullptr;
}

namespace {

void append_field(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ").append(value).append("\r\n");
}

// Fields lb writes itself, or that never cross a hop. The connection-specific
// ones (connection, keep-alive, proxy-connection, transfer-encoding, upgrade)
// were refused before; `te: trailers` is for this hop only.
bool replaced_by_lb(std::string_view name, const config::route& route) {
  if (name == "host" || name == "cookie" || name == "te" || name == "content-length" || name == "x-forwarded-for" ||
      name == "x-real-ip" || name == "x-forwarded-proto" || name == "expect")
    return true;
  for (const auto& [set_name, set_value] : route.set_headers)
    if (iequals(name, set_name)) return true;
  return false;
}

}  // namespace

void write_upstream_head(std::string& out, const request_fields& rq, body_framing f, std::uint64_t length,
                         std::string_view client_ip, std::string_view forwarded_proto, const config::route& route,
                         const http::trace_ids* ids, const client_cert_fields& cc, std::string_view path) {
  out.append(rq.method).append(" ").append(path.empty() ? rq.path : path).append(" HTTP/1.1\r\n");
  append_field(out, "host", rq.host());
  bool cookies = false;
  bool xff = false;
  for (const auto& h : rq.fields) {
    if (h.name == "cookie") cookies = true;
    if (h.name == "x-forwarded-for") xff = true;
    if (replaced_by_lb(h.name, route) || (ids && http::replaced_trace_field(h.name, *ids)) ||
        (cc.any_name() && cc.owns(h.name)))
      continue;
    append_field(out, h.name, h.value);
  }
  // RFC 9113 §8.2.3: cookie crumbs become one field for HTTP/1.1.
  if (cookies) {
    out.append("cookie: ");
    bool first = true;
    for (const auto& h : rq.fields) {
      if (h.name != "cookie") continue;
      if (!first) out.append("; ");
      out.append(h.value);
      first = false;
    }
    out.append("\r\n");
  }
  out.append("x-forwarded-for: ");
  if (xff)
    for (const auto& h : rq.fields)
      if (h.name == "x-forwarded-for") out.append(h.value).append(", ");
  out.append(client_ip).append("\r\n");
  append_field(out, "x-real-ip", client_ip);
  append_field(out, "x-forwarded-proto", forwarded_proto);
  if (ids) http::append_trace_fields(out, *ids);
  // A gateway MUST add itself to Via (RFC 9110 §7.6.3), after any received;
  // the received protocol is HTTP/2.
  append_field(out, "via", "2 lb");
  for (const auto& [set_name, set_value] : route.set_headers) append_field(out, set_name, set_value);
  cc.write([&](std::string_view n, std::string_view v) { append_field(out, n, v); });
  if (f == body_framing::length) {
    char buf[24];
    const auto* end = std::to_chars(buf, buf + sizeof buf, length).ptr;
    out.append("content-length: ").append(buf, static_cast<std::size_t>(end - buf)).append("\r\n");
  } else if (f == body_framing::chunked) {
    out.append("transfer-encoding: chunked\r\n");
  }
  out.append("\r\n");
}

}  // namespace lb::proto::h2
