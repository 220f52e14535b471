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

// A comma-separated list of address blocks ("10.0.0.0/8, 192.168.1.1"):
// false, with the first block it cannot read in `bad` (or none at all), when
// it is not one.
bool cidr_list(const std::string& value, std::vector<config::cidr>& out, std::string& bad) {
  std::size_t start = 0;
  while (start <= value.size()) {
    auto end = value.find(',', start);
    if (end == std::string::npos) end = value.size();
    std::string block = value.substr(start, end - start);
    block.erase(0, block.find_first_not_of(" \t"));
    block.erase(block.find_last_not_of(" \t") + 1);
    if (!block.empty()) {
      if (auto c = config::parse_cidr(block)) out.push_back(*c);
      else if (bad.empty()) bad = block;
    }
    start = end + 1;
  }
  return bad.empty() && !out.empty();
}

// What lb cannot do per Ingress (yet), with why: reported as unsupported.
struct missing {
  std::string_view name;
  std::string_view why;
};
constexpr missing not_carried[] = {
    {"limit-rate", "lb does not limit response bandwidth"},
    {"limit-rate-after", "lb does not limit response bandwidth"},
};

// affinity, affinity-mode and session-cookie-*: read together, since the
// cookie's settings mean nothing without `affinity: cookie`.
void read_affinity(const std::map<std::string, std::string>& keys, std::string_view prefix,
                   nginx_annotations& out) {
  if (keys.empty()) return;
  const auto say = [&](fidelity level, const std::string& name, std::string text) {
    out.notes.push_back({level, std::string(prefix) + name, std::move(text)});
  };
  const auto aff = keys.find("affinity");
  if (aff == keys.end() || aff->second != "cookie") {
    for (const auto& [name, value] : keys) {
      if (name == "affinity") say(fidelity::unsupported, name, "'" + value + "' is not cookie; no affinity");
      else say(fidelity::unsupported, name, "needs affinity: cookie; ignored");
    }
    return;
  }
  config::affinity_cookie c;
  c.name = "INGRESSCOOKIE";
  c.path.clear();  // the Ingress path, filled in per path by the translation
  for (const auto& key : keys) {
    // Named, not bound: clang 14 cannot capture structured bindings in lambdas.
    const std::string& name = key.first;
    const std::string& value = key.second;
    const auto bad = [&](std::string_view expected) {
      say(fidelity::unsupported, name, "'" + value + "' is not " + std::string(expected) + "; ignored");
    };
    if (name == "affinity") {
      say(fidelity::supported, name,
          "the pool's affinity cookie names the endpoint that answered; the client's next requests go there "
          "while it is healthy, else to another, which the cookie then names");
    } else if (name == "affinity-mode") {
      if (value == "persistent") say(fidelity::supported, name, "sessions stay on their endpoint while it serves");
      else if (value == "balanced")
        say(fidelity::approximated, name, "as persistent: lb does not move sessions when endpoints are added");
      else bad("balanced or persistent");
    } else if (name == "affinity-canary-behavior") {
      if (value == "sticky") say(fidelity::supported, name, "a session stays on the canary or main endpoint it got");
      else if (value == "legacy")
        say(fidelity::approximated, name, "as sticky: a session stays on the canary or main endpoint it got");
      else bad("sticky or legacy");
    } else if (name == "session-cookie-name") {
      if (!value.empty() && config::is_header_token(value)) {
        c.name = value;
        say(fidelity::supported, name, "the affinity cookie's name");
      } else {
        bad("a cookie name");
      }
    } else if (name == "session-cookie-path") {
      if (value.starts_with("/") && config::is_cookie_value(value)) {
        c.path = value;
        say(fidelity::supported, name, "the affinity cookie's Path");
      } else {
        bad("a path");
      }
    } else if (name == "session-cookie-domain") {
      const std::string host = value.starts_with(".") ? value.substr(1) : value;
      if (config::is_hostname(host)) {
        c.domain = host;
        say(fidelity::supported, name, "the affinity cookie's Domain");
      } else {
        bad("a domain");
      }
    } else if (name == "session-cookie-max-age" || name == "session-cookie-expires") {
      const auto n = config::parse_digits(value);
      if (!n || *n == 0 || *n > 100ull * 365 * 86400) {
        bad("a number of seconds");
        continue;
      }
      const bool max_age = name == "session-cookie-max-age";
      // Max-Age wins over Expires in browsers (RFC 6265 §5.3); lb sends only Max-Age.
      if (max_age || c.max_age.count() == 0) c.max_age = std::chrono::seconds(*n);
      say(max_age ? fidelity::supported : fidelity::approximated, name,
          max_age ? "the affinity cookie's Max-Age"
                  : "sent as Max-Age, the same lifetime (session-cookie-max-age decides when both are set)");
    } else if (name == "session-cookie-secure") {
      if (const auto b = boolean(value)) {
        c.secure = *b;
        say(fidelity::supported, name, "the affinity cookie's Secure attribute");
      } else {
        bad("true or false");
      }
    } else if (name == "session-cookie-samesite") {
      const auto v = config::to_lower(value);
      if (v == "none" || v == "lax" || v == "strict") {
        c.same_site = v == "none" ? "None" : v == "lax" ? "Lax" : "Strict";
        say(fidelity::supported, name, "the affinity cookie's SameSite attribute");
      } else {
        bad("None, Lax or Strict");
      }
    } else if (name == "session-cookie-conditional-samesite-none") {
      say(fidelity::approximated, name, "SameSite=None is sent to every client (no user-agent check)");
    } else if (name == "session-cookie-change-on-failure") {
      if (const auto b = boolean(value))
        say(*b ? fidelity::supported : fidelity::approximated, name,
            *b ? "a request its endpoint failed is retried on another, which the cookie then names"
               : "the cookie names the endpoint that answered: after a failure it moves (ingress-nginx keeps it)");
      else bad("true or false");
    } else {
      say(fidelity::unsupported, name, "not an annotation lb knows; ignored");
    }
  }
  if (c.same_site == "None" && !c.secure) {
    // Browsers drop SameSite=None without Secure: the affinity would never stick.
    c.secure = true;
    say(fidelity::approximated, "session-cookie-samesite", "SameSite=None is sent with Secure, which browsers require");
  }
  out.affinity = std::move(c);
}

// limit-rps, limit-rpm, limit-connections, limit-burst-multiplier and
// limit-allowlist (limit-whitelist): read together into the routes'
// client_limits, since the others mean nothing without a limit.
void read_limits(const std::map<std::string, std::string>& keys, std::string_view prefix, nginx_annotations& out) {
  if (keys.empty()) return;
  const auto say = [&](fidelity level, const std::string& name, std::string text) {
    out.notes.push_back({level, std::string(prefix) + name, std::move(text)});
  };
  const auto number = [&](const char* name) -> std::uint64_t {
    const auto it = keys.find(name);
    if (it == keys.end()) return 0;
    const auto n = config::parse_digits(it->second);
    if (!n || *n == 0 || *n > 1'000'000'000) {
      say(fidelity::unsupported, name, "'" + it->second + "' is not a positive number; ignored");
      return 0;
    }
    return *n;
  };
  const auto rps = number("limit-rps"), rpm = number("limit-rpm"), connections = number("limit-connections");
  if (rps == 0 && rpm == 0 && connections == 0) {
    for (const auto& [name, value] : keys)
      if (name == "limit-burst-multiplier" || name == "limit-allowlist" || name == "limit-whitelist")
        say(fidelity::unsupported, name, "needs limit-rps, limit-rpm or limit-connections; ignored");
    return;
  }
  // Limits refuse with 429, where ingress-nginx's default is 503; and each lb
  // worker counts on its own, where nginx's zone is shared by its workers.
  const std::string how = "; counted per lb route (each path of the Ingress, a Prefix path as two routes), per "
                          "listener and per worker (nginx: per Ingress, all workers), and over it lb answers 429 "
                          "with Retry-After (ingress-nginx: 503)";
  config::route_client_limits c;
  std::uint64_t multiplier = 5;  // ingress-nginx's limit-burst-multiplier default
  if (keys.count("limit-burst-multiplier")) {
    if (const auto m = number("limit-burst-multiplier")) {
      multiplier = m;
      say(fidelity::supported, "limit-burst-multiplier", "the burst is the rate times this");
    }
  }
  if (rps) {
    c.requests_per_second = rps;
    c.burst = std::min<std::uint64_t>(rps * multiplier, 1'000'000'000);  // the config's bound
    say(fidelity::approximated, "limit-rps",
        "the routes' client_limits: " + std::to_string(rps) + " requests per second per client, burst " +
            std::to_string(c.burst) + how);
  }
  if (rpm) {
    if (rps) {
      say(fidelity::approximated, "limit-rpm", "limit-rps decides: lb keeps one rate per route");
    } else {
      // lb's rates are whole requests per second.
      c.requests_per_second = (rpm + 59) / 60;
      c.burst = std::min<std::uint64_t>(std::max<std::uint64_t>(c.requests_per_second, (rpm * multiplier + 59) / 60),
                                        1'000'000'000);
      say(fidelity::approximated, "limit-rpm",
          "the routes' client_limits: " + std::to_string(c.requests_per_second) +
              " requests per second per client (lb's rates are per second), burst " + std::to_string(c.burst) + how);
    }
  }
  if (connections) {
    c.concurrent_requests = connections;
    say(fidelity::approximated, "limit-connections",
        "the routes' client_limits: " + std::to_string(connections) +
            " requests in flight at once per client (each HTTP/2 stream counts, as nginx's limit_conn)" + how);
  }
  for (const char* name : {"limit-allowlist", "limit-whitelist"}) {
    const auto it = keys.find(name);
    if (it == keys.end()) continue;
    std::vector<config::cidr> blocks;
    std::string bad_block;
    const auto& value = it->second;
    // A list that cannot be read exempts no one: the limits apply to all.
    if (!cidr_list(value, blocks, bad_block)) {
      say(fidelity::unsupported, name, "'" + (bad_block.empty() ? value : bad_block) +
                                           "' is not a list of address blocks; nobody is exempt");
    } else {
      c.allowlist.insert(c.allowlist.end(), blocks.begin(), blocks.end());
      say(fidelity::supported, name, "clients in these blocks are not limited");
    }
  }
  out.client_limits = std::move(c);
}

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
  std::map<std::string, std::string> affinity_keys;  // affinity, session-cookie-*: read after the loop
  std::map<std::string, std::string> limit_keys;     // limit-*: read after the loop
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
    } else if (name == "proxy-connect-timeout" || name == "proxy-read-timeout" || name == "proxy-send-timeout") {
      const auto d = seconds(value);
      if (!d || *d <= 0s) {
        bad("a number of seconds");
      } else if (name == "proxy-connect-timeout") {
        out.connect_timeout = *d;
        say(fidelity::supported, "the pool's connect_timeout");
      } else if (name == "proxy-read-timeout") {
        out.read_timeout = *d;
        say(fidelity::approximated, "the route's timeout, which bounds the wait for the response head "
                                    "(nginx's bounds each read, body included)");
      } else {
        out.send_timeout = *d;
        say(fidelity::supported, "the route's send_timeout: the upstream must take each write of the request "
                                 "within it");
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
      if (!cidr_list(value, out.allow_from, bad_block))
        say(fidelity::rejected, "'" + (bad_block.empty() ? value : bad_block) +
                                    "' is not a list of address blocks; the Ingress is not served rather than "
                                    "served to everyone");
      else
        say(fidelity::supported, "only these clients reach the Ingress's paths; others get 403");
    } else if (name == "affinity" || name == "affinity-mode" || name == "affinity-canary-behavior" ||
               name.starts_with("session-cookie-")) {
      affinity_keys.emplace(name, value);
    } else if (name == "limit-rps" || name == "limit-rpm" || name == "limit-connections" ||
               name == "limit-burst-multiplier" || name == "limit-allowlist" || name == "limit-whitelist") {
      limit_keys.emplace(name, value);
    } else if (name == "ssl-passthrough") {
      if (const auto b = boolean(value)) {
        out.ssl_passthrough = *b;
        say(fidelity::supported, *b ? "TLS connections for the Ingress's hosts go to the backend of its '/' path "
                                      "by SNI, not deciphered (the Service terminates TLS); its HTTP annotations do "
                                      "not apply to them, as in ingress-nginx"
                                    : "TLS is terminated by lb");
      } else {
        bad("true or false");
      }
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
  read_affinity(affinity_keys, prefix, out);
  read_limits(limit_keys, prefix, out);
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
