#include "lb/ingress/annotations.h"

#include <algorithm>

#include "lb/config/parse.h"
#include "lb/config/validate.h"

namespace lb::ingress {
namespace {

using namespace std::chrono_literals;

// ingress-nginx's boolean annotations: "true" or "false", anything else is a
// mistake that ingress-nginx would also refuse.
std::optional<bool> boolean(const std::string& v) {
  if (v == "true") return true;
  if (v == "false") return false;
  return std::nullopt;
}

// proxy-*-timeout: a bare number of seconds, as ingress-nginx writes it into
// nginx ("60"), or an nginx duration ("60s", "1m").
std::optional<config::duration> seconds(const std::string& v) {
  if (const auto n = config::parse_digits(v); n && *n <= 86400) return std::chrono::seconds(*n);
  return config::parse_duration(v);
}

// proxy-body-size: an nginx size, bytes with an optional k or m (g too,
// which nginx's size parser takes for this directive's offsets), e.g. "8m".
std::optional<std::uint64_t> nginx_size(const std::string& v) {
  if (v.empty()) return std::nullopt;
  std::uint64_t scale = 1;
  std::string digits = v;
  switch (v.back()) {
    case 'k': case 'K': scale = 1ull << 10; break;
    case 'm': case 'M': scale = 1ull << 20; break;
    case 'g': case 'G': scale = 1ull << 30; break;
    default: break;
  }
  if (scale != 1) digits.pop_back();
  const auto n = config::parse_digits(digits);
  if (!n || *n > (std::uint64_t{1} << 62) / scale) return std::nullopt;
  return *n * scale;
}

// upstream-hash-by: the nginx variables users hash by.
std::optional<config::hash_key> hash_variable(const std::string& v) {
  config::hash_key k;
  if (v == "$remote_addr" || v == "$binary_remote_addr") return k;
  if (v == "$request_uri" || v == "$uri") {
    k.type = config::hash_key::kind::path;
    return k;
  }
  if (v.starts_with("$http_") && v.size() > 6) {
    k.type = config::hash_key::kind::header;
    k.name = v.substr(6);
    std::replace(k.name.begin(), k.name.end(), '_', '-');
    return k;
  }
  if (v.starts_with("$cookie_") && v.size() > 8) {
    k.type = config::hash_key::kind::cookie;
    k.name = v.substr(8);
    return k;
  }
  return std::nullopt;
}

// What lb cannot do per Ingress (yet), with why: reported as unsupported.
struct missing {
  std::string_view name;
  std::string_view why;
};
constexpr missing not_carried[] = {
    {"proxy-send-timeout", "lb has no per-route send timeout; the listener's idle_timeout applies"},
    {"affinity", "lb has no cookie-inserting session affinity; upstream-hash-by with $cookie_NAME hashes "
                 "an existing cookie"},
    {"affinity-mode", "lb has no cookie-inserting session affinity"},
    {"session-cookie-name", "lb has no cookie-inserting session affinity"},
    {"session-cookie-path", "lb has no cookie-inserting session affinity"},
    {"session-cookie-max-age", "lb has no cookie-inserting session affinity"},
    {"session-cookie-expires", "lb has no cookie-inserting session affinity"},
    {"session-cookie-samesite", "lb has no cookie-inserting session affinity"},
    {"ssl-passthrough", "TLS passthrough needs the TCP plane in front of the HTTPS listener"},
    {"limit-rps", "lb limits clients per listener (client_limits), not per Ingress"},
    {"limit-connections", "lb limits clients per listener (client_limits), not per Ingress"},
};

}  // namespace

std::string_view fidelity_name(fidelity f) {
  switch (f) {
    case fidelity::supported: return "supported";
    case fidelity::approximated: return "approximated";
    case fidelity::unsupported: return "unsupported";
    case fidelity::rejected: return "rejected";
  }
  return "unsupported";
}

bool nginx_annotations::rejected() const {
  return std::any_of(notes.begin(), notes.end(), [](const note& n) { return n.level == fidelity::rejected; });
}

nginx_annotations read_annotations(const std::map<std::string, std::string>& annotations, std::string_view prefix) {
  nginx_annotations out;
  std::optional<std::string> canary_by_header, canary_header_value, canary_by_cookie, canary_weight, canary_weight_total;
  for (const auto& annotation : annotations) {
    // Named, not bound: clang 14 cannot capture structured bindings in lambdas.
    const std::string& full = annotation.first;
    const std::string& value = annotation.second;
    if (!std::string_view(full).starts_with(prefix)) continue;
    const std::string name = full.substr(prefix.size());
    auto say = [&](fidelity level, std::string text) { out.notes.push_back({level, full, std::move(text)}); };
    auto bad = [&](std::string_view expected) {
      say(fidelity::unsupported, "'" + value + "' is not " + std::string(expected) + "; ignored");
    };
    if (name.ends_with("-snippet") || name == "configuration-snippet" || name == "server-snippet") {
      // Raw nginx text from whoever may write an Ingress: the hole that
      // CVE-2025-1974 and its kin went through. Never taken.
      say(fidelity::rejected, "snippets are raw proxy configuration and are refused; the Ingress is not served");
    } else if (name == "use-regex") {
      if (const auto b = boolean(value)) {
        out.use_regex = *b;
        say(fidelity::supported, *b ? "paths are case-insensitive regular expressions matching a prefix of the path, "
                                      "for every path of the host (as ingress-nginx)"
                                    : "paths are plain");
      } else {
        bad("true or false");
      }
    } else if (name == "rewrite-target") {
      // nginx would take "http://..." as a redirect, and anything not
      // starting with '/' makes no request target.
      if (value.starts_with("/") && config::is_origin_form(value)) {
        out.rewrite_target = value;
        say(fidelity::supported, "the path sent upstream is '" + value + "', $N the groups of the path read as "
                                 "a case-insensitive regex; the host's paths become regexes (as ingress-nginx)");
      } else {
        bad("a path starting with '/'");
      }
    } else if (name == "proxy-body-size") {
      if (const auto n = nginx_size(value)) {
        out.max_body_bytes = *n;
        say(fidelity::supported, *n ? "the routes' max_body_bytes: larger request bodies get 413"
                                    : "no limit on request bodies (nginx's 0)");
      } else {
        bad("an nginx size (bytes, or with k, m or g)");
      }
    } else if (name == "proxy-connect-timeout") {
      if (const auto d = seconds(value); d && *d > 0s) {
        out.connect_timeout = *d;
        say(fidelity::supported, "the pool's connect_timeout");
      } else {
        bad("a number of seconds");
      }
    } else if (name == "proxy-read-timeout") {
      if (const auto d = seconds(value); d && *d > 0s) {
        out.read_timeout = *d;
        say(fidelity::approximated, "the route's timeout, which bounds the wait for the response head "
                                    "(nginx's bounds each read, body included)");
      } else {
        bad("a number of seconds");
      }
    } else if (name == "load-balance") {
      if (value == "round_robin") {
        out.balancer = config::balancer_kind::round_robin;
        say(fidelity::supported, "balancer round_robin");
      } else if (value == "ewma") {
        out.balancer = config::balancer_kind::least_request;
        say(fidelity::approximated, "balancer least_request (power of two choices on requests in flight, "
                                    "not a latency average)");
      } else {
        bad("round_robin or ewma");
      }
    } else if (name == "upstream-hash-by") {
      if (auto k = hash_variable(value)) {
        out.hash_key = std::move(*k);
        say(fidelity::supported, "balancer ring_hash (consistent hashing, as ingress-nginx's)");
      } else {
        say(fidelity::unsupported, "lb hashes by $remote_addr, $request_uri, $http_NAME or $cookie_NAME only; '" +
                                       value + "' ignored");
      }
    } else if (name == "upstream-hash-by-subset" || name == "upstream-hash-by-subset-size") {
      say(fidelity::unsupported, "subset hashing is not available; plain consistent hashing applies");
    } else if (name == "backend-protocol") {
      if (value == "HTTP") out.protocol = backend_protocol::http;
      else if (value == "HTTPS") out.protocol = backend_protocol::https;
      else if (value == "GRPC") out.protocol = backend_protocol::grpc;
      else if (value == "GRPCS") out.protocol = backend_protocol::grpcs;
      else {
        bad("HTTP, HTTPS, GRPC or GRPCS");
        continue;
      }
      say(value == "HTTPS" || value == "GRPCS" ? fidelity::approximated : fidelity::supported,
          value == "HTTPS" || value == "GRPCS"
              ? "TLS to the endpoints without certificate verification (ingress-nginx's proxy-ssl-verify off)"
              : "the pool's protocol");
    } else if (name == "ssl-redirect" || name == "force-ssl-redirect") {
      if (const auto b = boolean(value)) {
        (name == "ssl-redirect" ? out.ssl_redirect : out.force_ssl_redirect) = *b;
        say(fidelity::supported, name == "ssl-redirect"
                                     ? "HTTP requests for the hosts of its TLS section are redirected to https (308)"
                                     : "HTTP requests for every host of the Ingress are redirected to https (308)");
      } else {
        bad("true or false");
      }
    } else if (name == "whitelist-source-range" || name == "allowlist-source-range") {
      // An allowlist that cannot be read must not open the door: the whole
      // Ingress is refused instead.
      std::string bad_block;
      std::size_t start = 0;
      while (start <= value.size()) {
        auto end = value.find(',', start);
        if (end == std::string::npos) end = value.size();
        std::string block = value.substr(start, end - start);
        block.erase(0, block.find_first_not_of(" \t"));
        block.erase(block.find_last_not_of(" \t") + 1);
        if (!block.empty()) {
          if (auto c = config::parse_cidr(block)) out.allow_from.push_back(*c);
          else if (bad_block.empty()) bad_block = block;
        }
        start = end + 1;
      }
      if (!bad_block.empty() || out.allow_from.empty())
        say(fidelity::rejected, "'" + (bad_block.empty() ? value : bad_block) +
                                    "' is not a list of address blocks; the Ingress is not served rather than "
                                    "served to everyone");
      else
        say(fidelity::supported, "only these clients reach the Ingress's paths; others get 403");
    } else if (name == "canary") {
      if (const auto b = boolean(value)) out.canary = *b;
      else bad("true or false");
    } else if (name == "canary-by-header") {
      canary_by_header = config::to_lower(value);
    } else if (name == "canary-by-header-value") {
      canary_header_value = value;
    } else if (name == "canary-by-cookie") {
      canary_by_cookie = value;
    } else if (name == "canary-weight") {
      canary_weight = value;
    } else if (name == "canary-weight-total") {
      canary_weight_total = value;
    } else {
      const auto it = std::find_if(std::begin(not_carried), std::end(not_carried),
                                   [&](const missing& m) { return m.name == name; });
      if (it != std::end(not_carried)) say(fidelity::unsupported, std::string(it->why));
      else say(fidelity::unsupported, "not an annotation lb knows; ignored");
    }
  }
  const auto say = [&](fidelity level, std::string_view name, std::string text) {
    out.notes.push_back({level, std::string(prefix) + std::string(name), std::move(text)});
  };
  if (canary_by_header) {
    if (!config::is_header_token(*canary_by_header)) {
      say(fidelity::unsupported, "canary-by-header", "'" + *canary_by_header + "' is not a header name; ignored");
    } else {
      out.canary_header = *canary_by_header;
      say(fidelity::supported, "canary-by-header",
          "requests with this header set to 'always' go to the canary, 'never' to the main backends");
    }
  }
  if (canary_header_value) {
    if (out.canary_header.empty()) {
      say(fidelity::unsupported, "canary-by-header-value", "needs canary-by-header; ignored");
    } else if (!config::is_header_value(*canary_header_value) || canary_header_value->empty()) {
      say(fidelity::unsupported, "canary-by-header-value", "not a header value; ignored");
    } else {
      out.canary_header_value = *canary_header_value;
      say(fidelity::supported, "canary-by-header-value", "the header must have exactly this value");
    }
  }
  if (canary_by_cookie) {
    // RFC 6265: a cookie name is a token, compared as written.
    if (!config::is_header_token(*canary_by_cookie)) {
      say(fidelity::unsupported, "canary-by-cookie", "'" + *canary_by_cookie + "' is not a cookie name; ignored");
    } else {
      out.canary_cookie = *canary_by_cookie;
      say(fidelity::supported, "canary-by-cookie",
          "requests with this cookie set to 'always' go to the canary, 'never' to the main backends "
          "(canary-by-header decides first)");
    }
  }
  if (canary_weight_total) {
    const auto t = config::parse_digits(*canary_weight_total);
    if (t && *t >= 1 && *t <= 1000000) {
      out.canary_weight_total = static_cast<std::uint32_t>(*t);
      say(fidelity::supported, "canary-weight-total", "the total canary-weight is out of");
    } else {
      say(fidelity::unsupported, "canary-weight-total", "not a number 1-1000000; 100 is used");
    }
  }
  if (canary_weight) {
    const auto w = config::parse_digits(*canary_weight);
    if (w && *w <= out.canary_weight_total) {
      out.canary_weight = static_cast<std::uint32_t>(*w);
      say(fidelity::approximated, "canary-weight",
          "the share is carried by endpoint weights in one pool (rounded to lb's weights 1-1000)");
    } else {
      say(fidelity::unsupported, "canary-weight", "not a number 0-" + std::to_string(out.canary_weight_total) +
                                                      "; ignored");
    }
  }
  if (!out.canary && (canary_by_header || canary_weight)) {
    say(fidelity::unsupported, "canary", "canary-* annotations without canary: \"true\" are ignored");
    out.canary_header.clear();
    out.canary_weight.reset();
  }
  return out;
}

}  // namespace lb::ingress
