#include "lb/proto/http/redirect.h"

#include <charconv>

namespace lb::proto::http {

namespace {

bool is_digits(std::string_view s) {
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// A reg-name (RFC 3986 §3.2.2) of the usual kind: letters, digits and
// "-._~" (no percent-encoding, no sub-delims, which no real host uses and
// which would only help confuse the Location a browser follows).
bool is_host_name(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '.' || c == '_' || c == '~';
    if (!ok) return false;
  }
  return true;
}

bool is_ip_literal(std::string_view s) {  // "[...]"
  if (s.size() < 4 || s.front() != '[' || s.back() != ']') return false;
  for (char c : s.substr(1, s.size() - 2)) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
                    c == '.';
    if (!ok) return false;
  }
  return true;
}

// `host` without its ":port", or empty when it is not a host.
std::string_view host_part(std::string_view host) {
  if (host.empty()) return {};
  std::string_view name = host, port;
  if (!host.empty() && host.front() == '[') {
    const auto close = host.find(']');
    if (close == std::string_view::npos) return {};
    name = host.substr(0, close + 1);
    port = host.substr(close + 1);
  } else if (const auto colon = host.rfind(':'); colon != std::string_view::npos) {
    name = host.substr(0, colon);
    port = host.substr(colon);
  }
  if (name.empty() || (!port.empty() && (port.front() != ':' || !is_digits(port.substr(1))))) return {};
  if (!(name.front() == '[' ? is_ip_literal(name) : is_host_name(name))) return {};
  return name;
}

// The path and query of `target`: itself in origin-form, what follows the
// authority in absolute-form; empty when it has none.
std::string_view path_of(std::string_view target) {
  if (!target.empty() && target.front() == '/') return target;
  const auto scheme_end = target.find("://");
  if (scheme_end == std::string_view::npos || target.front() == '*') return {};
  const auto rest = target.find_first_of("/?", scheme_end + 3);
  if (rest == std::string_view::npos) return "/";
  return target.substr(rest);
}

}  // namespace

bool https_location(std::string& out, std::string_view host, std::string_view target, std::uint16_t port) {
  const auto name = host_part(host);
  auto path = path_of(target);
  if (name.empty() || path.empty()) return false;
  out.append("https://").append(name);
  if (port) {
    char buf[8];
    const auto* end = std::to_chars(buf, buf + sizeof buf, port).ptr;
    out.append(":").append(buf, static_cast<std::size_t>(end - buf));
  }
  if (path.front() == '?') out.append("/");
  out.append(path);
  return true;
}

void write_redirect(std::string& out, unsigned status, std::string_view location, bool keep_alive) {
  out.append(status == 301 ? "HTTP/1.1 301 Moved Permanently\r\n" : "HTTP/1.1 308 Permanent Redirect\r\n");
  out.append("Location: ").append(location).append("\r\nContent-Length: 0\r\n");
  if (!keep_alive) out.append("Connection: close\r\n");
  out.append("\r\n");
}

}  // namespace lb::proto::http
