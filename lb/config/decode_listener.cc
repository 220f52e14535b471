#include "lb/config/decode.h"

#include <algorithm>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include <boost/beast/core/string.hpp>

#include "lb/config/parse.h"
#include "lb/config/validate.h"

namespace lb::config::yaml {
namespace {

const schema listener_schema{"listener",
                             {"name", "listen", "protocol", "limits", "routes", "tls", "pool",
                              "accept_proxy_protocol", "splice", "protocols", "http2", "peek_timeout",
                              "non_tls", "request_id", "tracing", "client_limits", "redirect_https"},
                             {}};
const schema redirect_schema{"redirect_https", {"port", "code"}, {}};
const schema limits_schema{
    "limits",
    {"max_connections", "header_timeout", "idle_timeout", "max_header_bytes", "max_body_bytes",
     "half_close_timeout", "max_headers", "max_header_line_bytes", "max_requests_per_connection",
     "lingering_timeout"},
    {}};
const schema route_schema{"route", {"name", "match", "pool", "timeout", "send_timeout", "retries", "set_headers",
                                    "allow_from", "redirect_https", "rewrite", "max_body_bytes", "client_limits"},
                          {}};
const schema tcp_route_schema{"route", {"name", "sni", "alpn", "pool"}, {}};
const schema retries_schema{"retries", {"attempts", "on", "budget_percent"}, {}};
const schema match_schema{"match",
                          {"host", "path_prefix", "path_exact", "path_regex", "headers", "cookies"},
                          {}};

void read_protocol(reader& r, const field& f, listener& out);
void read_redirect(reader& r, const field& f, redirect_https& out);
void read_rewrite(reader& r, const field& f, route& out);
void read_versions(reader& r, const field& f, listener& out);
// Returns whether `idle_timeout` was given (a TCP listener's default differs).
bool read_limits(reader& r, const field& f, limits& out);
void read_route(reader& r, const field& f, std::size_t index, route& out);
void read_tcp_route(reader& r, const field& f, std::size_t index, tcp_route& out);
void read_retries(reader& r, const field& f, retry_policy& out);
void read_retry_on(reader& r, const field& f, retry_policy& out);
void read_match(reader& r, const field& f, route& out);
void read_path(reader& r, const field& f, path_match::kind kind, route& out);
void read_headers(reader& r, const field& f, bool for_upstream,
                  std::vector<std::pair<std::string, std::string>>& out);
void read_cookies(reader& r, const field& f, std::vector<std::pair<std::string, std::string>>& out);
void check_trace_headers(reader& r, const fields& m, const listener& out);

}  // namespace

void decode_listener(reader& r, const field& f, listener& out) {
  const auto m = r.read_map(f, listener_schema);
  if (!m) return;
  r.require(*m, "name", "listener");
  r.require(*m, "listen", "listener");
  bool idle_given = false;
  for (const auto& item : m->items) {
    if (item.key == "name") {
      if (auto n = r.read_name(item, "listener")) {
        out.name = *n;
        out.name_pos = r.pos(item);
      }
    } else if (item.key == "listen") {
      if (auto a = r.read_address(item, address_use::listen)) {
        out.listen = *a;
        out.listen_pos = r.pos(item);
      }
    } else if (item.key == "protocol") {
      read_protocol(r, item, out);
    } else if (item.key == "limits") {
      idle_given = read_limits(r, item, out.limits);
    } else if (item.key == "tls") {
      decode_listener_tls(r, item, out.tls.emplace());
    } else if (item.key == "pool") {
      if (auto p = r.read_string(item)) {
        out.pool = *p;
        out.pool_pos = r.pos(item);
      }
    } else if (item.key == "accept_proxy_protocol") {
      decode_accept_proxy(r, item, out.accept_proxy.emplace());
    } else if (item.key == "client_limits") {
      decode_client_limits(r, item, out.client_limits.emplace());
    } else if (item.key == "splice") {
      if (auto v = r.read_string(item)) {
        if (*v == "auto" || *v == "off") out.splice = *v == "auto";
        else r.error(item, "invalid 'splice': expected 'auto' or 'off', got " + describe(item.value));
      }
    } else if (item.key == "protocols") {
      read_versions(r, item, out);
    } else if (item.key == "http2") {
      decode_http2(r, item, out.http2);
    } else if (item.key == "request_id") {
      decode_request_id(r, item, out.request_id);
    } else if (item.key == "tracing") {
      decode_tracing(r, item, out.tracing);
    } else if (item.key == "peek_timeout") {
      if (auto d = r.read_duration(item, false)) out.peek_timeout = *d;
    } else if (item.key == "non_tls") {
      if (auto v = r.read_string(item)) {
        if (*v == "close" || *v == "pool") out.non_tls = *v == "pool" ? non_tls_action::pool : non_tls_action::close;
        else r.error(item, "invalid 'non_tls': expected 'close' or 'pool', got " + describe(item.value));
      }
    } else if (item.key == "redirect_https") {
      read_redirect(r, item, out.redirect_https.emplace());
    }
  }
  const auto* proto = m->get("protocol");
  const bool tcp = proto && proto->value.IsScalar() && proto->value.Scalar() == "tcp";
  // Routes are read once the protocol is known: a tcp listener's match by SNI.
  if (const auto* item = m->get("routes")) {
    // `routes: []` answers every request 404 (an ingress with no Ingress yet).
    const auto routes = r.read_list(*item, "route", true);
    for (std::size_t i = 0; routes && i < routes->size(); ++i) {
      if (tcp) read_tcp_route(r, (*routes)[i], i, out.tcp_routes.emplace_back());
      else read_route(r, (*routes)[i], i, out.routes.emplace_back());
    }
  }
  // A tls: listener's requests are https already.
  if (m->get("tls"))
    for (const auto& rt : out.routes)
      if (rt.redirect_https)
        r.report(diagnostic::at(rt.name_pos, "route '" + rt.name + "': 'redirect_https' is for plain listeners: this "
                                                                    "one has 'tls'"));
  if (const auto* rd = m->get("redirect_https")) {
    if (tcp) r.error(rd->key_node.Mark(), "'redirect_https' applies only to HTTP listeners");
    else if (m->get("tls")) r.error(rd->key_node.Mark(), "'redirect_https' is for plain listeners: this one has 'tls'");
    else if (m->get("routes"))
      r.error(rd->key_node.Mark(), "'redirect_https' answers every request itself: the listener takes no 'routes'");
  }
  if (!tcp) {
    if (!out.redirect_https) r.require(*m, "routes", "listener");
    // Keys that mean something on a TCP listener only must not pass silently.
    // ALPN `h2` on a tls: listener speaks HTTP/2 to the clients that ask.
    if (out.tls && std::find(out.tls->alpn.begin(), out.tls->alpn.end(), "h2") != out.tls->alpn.end()) out.h2 = true;
    for (const char* key : {"pool", "splice", "peek_timeout", "non_tls"})
      if (const auto* k = m->get(key)) {
        // Built by appending: g++ 12 -O3 warns falsely (-Wrestrict) on "lit" + std::string&&.
        std::string message = "'";
        message.append(key).append("' applies only to 'protocol: tcp' listeners");
        r.error(k->key_node.Mark(), message);
      }
    if (const auto* l = m->get("limits"); l && l->value.IsMap() && l->value["half_close_timeout"])
      r.error(l->value["half_close_timeout"].Mark(), "'half_close_timeout' applies only to 'protocol: tcp' listeners");
    check_trace_headers(r, *m, out);
    return;
  }
  if (!m->get("routes")) r.require(*m, "pool", "tcp listener");
  if (const auto* c = m->get("client_limits"); c && c->value.IsMap())
    for (const char* key : {"requests_per_second", "burst"})
      if (c->value[key]) {
        std::string message = "'";  // appended, as below (-Wrestrict)
        message.append(key).append("' applies only to HTTP listeners (a TCP listener has no requests)");
        r.error(c->value[key].Mark(), message);
      }
  for (const char* key : {"protocols", "http2", "request_id", "tracing"})
    if (const auto* k = m->get(key)) {
      std::string message = "'";  // appended, as above (-Wrestrict)
      message.append(key).append("' applies only to HTTP listeners");
      r.error(k->key_node.Mark(), message);
    }
  if (const auto* t = m->get("tls"); t && m->get("routes"))
    r.error(t->key_node.Mark(), "a tcp listener routes by SNI with TLS passed through: 'tls' and 'routes' exclude each other");
  // A TCP listener that terminates TLS may check client certificates, but
  // has no request to carry them in.
  if (const auto* t = m->get("tls"); t && t->value.IsMap() && t->value["client_cert_headers"])
    r.error(t->value["client_cert_headers"].Mark(), "'client_cert_headers' applies only to HTTP listeners");
  if (const auto* n = m->get("non_tls"); n && out.non_tls == non_tls_action::pool && !m->get("pool"))
    r.error(n->key_node.Mark(), "'non_tls: pool' needs the listener's default 'pool'");
  if (!idle_given) out.limits.idle_timeout = tcp_default_idle_timeout;
}

namespace {

// A route's set_headers must not write what `request_id`/`tracing` write:
// the upstream would get both.
void check_trace_headers(reader& r, const fields& m, const listener& out) {
  auto check = [&](const char* key, bool on, std::initializer_list<std::string_view> names) {
    const auto* k = m.get(key);
    if (!k || !on) return;
    for (const auto& route : out.routes)
      for (const auto& [name, value] : route.set_headers)
        for (const auto n : names)
          if (boost::beast::iequals(name, n)) {
            std::string message = "route '";  // appended: g++ 12 -Wrestrict, as above
            message.append(route.name).append("' sets '").append(name).append("' in set_headers, which '");
            message.append(key).append("' writes on this listener");
            r.error(k->key_node.Mark(), message);
          }
  };
  check("request_id", out.request_id.enabled, {"x-request-id"});
  check("tracing", out.tracing.enabled, {"traceparent", "tracestate"});
}

void read_versions(reader& r, const field& f, listener& out) {
  const auto list = r.read_list(f, "protocol");
  if (!list) return;
  bool h1 = false, h2 = false, bad = false;
  for (std::size_t i = 0; i < list->size(); ++i) {
    const auto v = r.read_string((*list)[i]);
    if (!v) continue;
    if (*v == "h1") h1 = true;
    else if (*v == "h2") h2 = true;
    else bad = true, r.error((*list)[i], "unknown HTTP version '" + *v + "' (expected one of: h1, h2)");
  }
  if (bad) return;
  if (!h1 && !h2) {
    r.error(f, "'protocols' must name at least one of: h1, h2");
    return;
  }
  out.h1 = h1;
  out.h2 = h2;
}

void read_protocol(reader& r, const field& f, listener& out) {
  const auto p = r.read_string(f);
  if (!p) return;
  if (*p == "http") {
    out.proto = protocol::http;
  } else if (*p == "tcp") {
    out.proto = protocol::tcp;
  } else {
    r.error(f, "unknown protocol '" + *p + "' (expected one of: http, tcp)");
  }
}

// `redirect_https: {}` (or `true`) keeps the defaults: 308, no port.
void read_redirect(reader& r, const field& f, redirect_https& out) {
  if (f.value.IsScalar() && f.value.Scalar() == "true") return;
  if (f.value.IsMap() && f.value.size() == 0) return;
  const auto m = r.read_map(f, redirect_schema);
  if (!m) return;
  for (const auto& item : m->items) {
    if (item.key == "port") {
      if (auto v = r.read_uint(item, 1, 65535)) out.port = static_cast<std::uint16_t>(*v == 443 ? 0 : *v);
    } else if (item.key == "code") {
      if (auto v = r.read_uint(item, 0, no_max)) {
        if (*v == 301 || *v == 308) out.code = static_cast<unsigned>(*v);
        else r.error(item, "invalid 'code' " + std::to_string(*v) + " (expected 308 or 301)");
      }
    }
  }
}

bool read_limits(reader& r, const field& f, limits& out) {
  const auto m = r.read_map(f, limits_schema);
  if (!m) return false;
  for (const auto& item : m->items) {
    if (item.key == "max_connections") {
      if (auto v = r.read_uint(item, 1, no_max)) out.max_connections = *v;
    } else if (item.key == "header_timeout") {
      if (auto d = r.read_duration(item, false)) out.header_timeout = *d;
    } else if (item.key == "idle_timeout") {
      if (auto d = r.read_duration(item, false)) out.idle_timeout = *d;
    } else if (item.key == "max_header_bytes") {
      if (auto v = r.read_uint(item, 1024, 1048576)) {
        out.max_header_bytes = static_cast<std::uint32_t>(*v);
      }
    } else if (item.key == "max_body_bytes") {
      if (auto v = r.read_uint(item, 0, no_max)) out.max_body_bytes = *v;
    } else if (item.key == "half_close_timeout") {
      if (auto d = r.read_duration(item, false)) out.half_close_timeout = *d;
    } else if (item.key == "max_headers") {
      if (auto v = r.read_uint(item, 1, 10000)) out.max_headers = static_cast<std::uint32_t>(*v);
    } else if (item.key == "max_header_line_bytes") {
      if (auto v = r.read_uint(item, 256, 1048576)) out.max_header_line_bytes = static_cast<std::uint32_t>(*v);
    } else if (item.key == "max_requests_per_connection") {
      if (auto v = r.read_uint(item, 0, no_max)) out.max_requests_per_connection = *v;
    } else if (item.key == "lingering_timeout") {
      if (auto d = r.read_duration(item, true)) out.lingering_timeout = *d;
    }
  }
  return m->get("idle_timeout") != nullptr;
}

void read_route(reader& r, const field& f, std::size_t index, route& out) {
  out.name = "route" + std::to_string(index);
  out.name_pos = r.pos(f.value.Mark());
  const auto m = r.read_map(f, route_schema);
  if (!m) return;
  r.require(*m, "pool", "route");
  const field* empty_pool = nullptr;
  for (const auto& item : m->items) {
    if (item.key == "name") {
      if (auto n = r.read_name(item, "route")) {
        out.name = *n;
        out.name_pos = r.pos(item);
      }
    } else if (item.key == "match") {
      read_match(r, item, out);
    } else if (item.key == "pool") {
      if (auto p = r.read_string(item)) {
        out.pool = *p;
        out.pool_pos = r.pos(item);
        if (p->empty()) empty_pool = &item;
      }
    } else if (item.key == "timeout") {
      if (auto d = r.read_duration(item, false)) out.timeout = *d;
    } else if (item.key == "client_limits") {
      decode_route_client_limits(r, item, out.client_limits.emplace());
    } else if (item.key == "send_timeout") {
      if (auto d = r.read_duration(item, false)) out.send_timeout = *d;
    } else if (item.key == "retries") {
      read_retries(r, item, out.retries);
    } else if (item.key == "set_headers") {
      read_headers(r, item, true, out.set_headers);
    } else if (item.key == "allow_from") {
      decode_cidr_list(r, item, out.allow_from);
    } else if (item.key == "redirect_https") {
      read_redirect(r, item, out.redirect_https.emplace());
    } else if (item.key == "rewrite") {
      read_rewrite(r, item, out);
    } else if (item.key == "max_body_bytes") {
      if (auto v = r.read_uint(item, 0, std::uint64_t{1} << 62)) out.max_body_bytes = *v;
    }
  }
  // cross_check() takes an empty pool for one the source could not read (and
  // so reported); one written as "" is reported here, as cross_check would.
  if (empty_pool) r.error(*empty_pool, "route '" + out.name + "' names unknown pool ''");
}

const schema rewrite_schema{"rewrite", {"regex", "replacement"}, {}};

void read_rewrite(reader& r, const field& f, route& out) {
  const auto m = r.read_map(f, rewrite_schema);
  if (!m) return;
  // Both reported when both are missing.
  const bool has_regex = r.require(*m, "regex", "rewrite");
  const bool has_replacement = r.require(*m, "replacement", "rewrite");
  const bool both = has_regex && has_replacement;
  path_rewrite rw;
  bool ok = both;
  if (const auto* re = m->get("regex")) {
    if (auto v = r.read_string(*re)) {
      if (const auto why = regex_error(*v, false); !why.empty()) {
        r.error(*re, "invalid rewrite 'regex' '" + *v + "': " + why);
        ok = false;
      }
      rw.regex = *v;
    } else {
      ok = false;
    }
  }
  if (const auto* to = m->get("replacement")) {
    if (auto v = r.read_string(*to)) {
      // What is sent upstream as the path: a '/' and visible ASCII only.
      if (!is_origin_form(*v)) {
        r.error(*to, "invalid rewrite 'replacement': must start with '/' and hold visible ASCII only, got " +
                         describe(to->value));
        ok = false;
      }
      rw.replacement = *v;
    } else {
      ok = false;
    }
  }
  if (ok) out.rewrite = std::move(rw);
}

void read_tcp_route(reader& r, const field& f, std::size_t index, tcp_route& out) {
  out.name = "route" + std::to_string(index);
  out.name_pos = r.pos(f.value.Mark());
  const auto m = r.read_map(f, tcp_route_schema);
  if (!m) return;
  r.require(*m, "pool", "route");
  if (!m->get("sni") && !m->get("alpn"))
    r.error(f, "a tcp route matches by 'sni', 'alpn' or both (the listener's 'pool' takes the rest)");
  for (const auto& item : m->items) {
    if (item.key == "name") {
      if (auto n = r.read_name(item, "route")) {
        out.name = *n;
        out.name_pos = r.pos(item);
      }
    } else if (item.key == "sni") {
      const auto h = r.read_string(item);
      if (!h) continue;
      std::string why;
      auto hm = parse_host_match(*h, why);
      if (hm && hm->type != host_match::kind::exact && hm->type != host_match::kind::suffix)
        why = "invalid sni '" + *h + "': expected a name or '*.example.com'";
      else if (hm && hm->value.starts_with('['))
        why = "invalid sni '" + *h + "': an IP address is never sent as SNI";
      if (!why.empty()) r.error(item, why);
      else out.sni = *hm;
    } else if (item.key == "alpn") {
      const auto list = item.value.IsScalar() ? std::optional<std::vector<field>>({item}) : r.read_list(item, "protocol");
      for (std::size_t i = 0; list && i < list->size(); ++i) {
        const auto p = r.read_string((*list)[i]);
        if (!p) continue;
        if (p->empty() || p->size() > 255) r.error((*list)[i], "invalid ALPN protocol name (1 to 255 bytes)");
        else out.alpn.push_back(*p);
      }
    } else if (item.key == "pool") {
      if (auto p = r.read_string(item)) {
        out.pool = *p;
        out.pool_pos = r.pos(item);
        if (p->empty()) r.error(item, "route '" + out.name + "' names unknown pool ''");
      }
    }
  }
}

void read_retries(reader& r, const field& f, retry_policy& out) {
  const auto m = r.read_map(f, retries_schema);
  if (!m) return;
  for (const auto& item : m->items) {
    if (item.key == "attempts") {
      if (auto v = r.read_uint(item, 0, 10)) out.attempts = static_cast<std::uint32_t>(*v);
    } else if (item.key == "on") {
      read_retry_on(r, item, out);
    } else if (item.key == "budget_percent") {
      if (auto v = r.read_uint(item, 0, 100)) out.budget_percent = static_cast<std::uint32_t>(*v);
    }
  }
}

void read_retry_on(reader& r, const field& f, retry_policy& out) {
  if (f.value.IsSequence() && f.value.size() == 0) {
    r.error(f, "'on' must not be empty (to turn retries off, set 'attempts: 0')");
    return;
  }
  const auto items = r.read_list(f, "retry condition");
  if (!items) return;
  // A list replaces the default set: `on: [502]` retries on 502 only.
  out.on_connect_failure = false;
  out.on_refused_stream = false;
  out.on_status.clear();
  std::vector<std::string> seen;
  for (const auto& item : *items) {
    std::optional<std::uint64_t> code;
    std::string name;
    if (item.value.IsScalar()) {
      name = item.value.Scalar();
      code = parse_digits(name);
      if (code) name = std::to_string(*code);
    }
    const bool known = name == "connect-failure" || name == "refused-stream" ||
                       (code && *code >= 500 && *code <= 599);
    if (!known) {
      r.error(item, "invalid retry condition " + describe(item.value) +
                        " (expected connect-failure, refused-stream or a status code from 500 "
                        "to 599)");
      continue;
    }
    if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
      r.error(item, "duplicate retry condition '" + name + "' in 'on'");
      continue;
    }
    seen.push_back(name);
    if (code) {
      out.on_status.push_back(static_cast<std::uint16_t>(*code));
    } else if (name == "connect-failure") {
      out.on_connect_failure = true;
    } else {
      out.on_refused_stream = true;
    }
  }
}

void read_match(reader& r, const field& f, route& out) {
  const auto m = r.read_map(f, match_schema);
  if (!m) return;
  const field* path = nullptr;
  for (const auto& item : m->items) {
    if (item.key == "host") {
      const auto h = r.read_string(item);
      std::string why;
      if (!h) continue;
      if (auto hm = parse_host_match(*h, why)) {
        out.host = *hm;
      } else {
        r.error(item, why);
      }
    } else if (item.key == "headers") {
      read_headers(r, item, false, out.headers);
    } else if (item.key == "cookies") {
      read_cookies(r, item, out.cookies);
    } else if (path) {
      r.error(item.key_node.Mark(), "'" + item.key + "' conflicts with '" + path->key +
                                        "': a route matches at most one of path_prefix, " +
                                        "path_exact, path_regex");
    } else {
      path = &item;
      const auto kind = item.key == "path_prefix"  ? path_match::kind::prefix
                        : item.key == "path_exact" ? path_match::kind::exact
                                                   : path_match::kind::regex;
      read_path(r, item, kind, out);
    }
  }
}

void read_path(reader& r, const field& f, path_match::kind kind, route& out) {
  const auto p = r.read_string(f);
  if (!p) return;
  if (kind == path_match::kind::regex) {
    if (const auto why = regex_error(*p, false); !why.empty()) {
      r.error(f, "invalid 'path_regex' '" + *p + "': " + why);
      return;
    }
  } else if (p->empty() || p->front() != '/') {
    r.error(f, "invalid '" + f.key + "': must start with '/', got " + describe(f.value));
    return;
  } else if (p->find('?') != std::string::npos) {
    // The router compares the path only; a '?' here could never match.
    r.error(f, "invalid '" + f.key + "': must not contain '?' (the query string is not matched)");
    return;
  }
  out.path.type = kind;
  out.path.value = *p;
}

void read_headers(reader& r, const field& f, bool for_upstream,
                          std::vector<std::pair<std::string, std::string>>& out) {
  if (!f.value.IsMap()) {
    r.error(f, "invalid '" + f.key + "': expected a map of header names to values, got " +
                   describe(f.value));
    return;
  }
  for (auto it = f.value.begin(); it != f.value.end(); ++it) {
    const field item{it->first.IsScalar() ? it->first.Scalar() : "", it->first, it->second};
    if (!it->first.IsScalar() || !is_header_token(item.key)) {
      r.error(it->first.Mark(),
              "invalid header name " + describe(it->first) + " in '" + f.key + "'");
      continue;
    }
    const std::string name = to_lower(item.key);
    if (for_upstream && is_reserved_header(name)) {
      r.error(it->first.Mark(), "'" + f.key + "' may not set '" + name +
                                    "': lb manages framing and hop-by-hop headers itself");
      continue;
    }
    if (std::any_of(out.begin(), out.end(), [&](const auto& h) { return h.first == name; })) {
      r.error(it->first.Mark(), "duplicate header '" + name + "' in '" + f.key + "'");
      continue;
    }
    const auto value = r.read_string(item);
    if (!value) continue;
    if (!is_header_value(*value)) {
      r.error(item, "invalid value for header '" + name + "': it must not contain CR, LF or NUL");
      continue;
    }
    out.emplace_back(name, *value);
  }
}

void read_cookies(reader& r, const field& f, std::vector<std::pair<std::string, std::string>>& out) {
  if (!f.value.IsMap()) {
    r.error(f, "invalid 'cookies': expected a map of cookie names to values, got " + describe(f.value));
    return;
  }
  for (auto it = f.value.begin(); it != f.value.end(); ++it) {
    const field item{it->first.IsScalar() ? it->first.Scalar() : "", it->first, it->second};
    // RFC 6265: a cookie name is a token, compared as written.
    if (!it->first.IsScalar() || !is_header_token(item.key)) {
      r.error(it->first.Mark(), "invalid cookie name " + describe(it->first) + " in 'cookies'");
      continue;
    }
    if (std::any_of(out.begin(), out.end(), [&](const auto& c) { return c.first == item.key; })) {
      r.error(it->first.Mark(), "duplicate cookie '" + item.key + "' in 'cookies'");
      continue;
    }
    const auto value = r.read_string(item);
    if (!value) continue;
    if (!is_cookie_value(*value)) {
      r.error(item, "invalid value for cookie '" + item.key +
                        "': no spaces, quotes, commas, semicolons, backslashes or control characters");
      continue;
    }
    out.emplace_back(item.key, *value);
  }
}

}  // namespace
}  // namespace lb::config::yaml
