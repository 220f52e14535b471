#include "lb/ingress/translate.h"

#include <algorithm>
#include <optional>
#include <set>
#include <tuple>

#include "lb/config/cross_check.h"
#include "lb/config/parse.h"
#include "lb/config/validate.h"
#include "lb/ingress/pools.h"

namespace lb::ingress {
namespace {

// One (host, path) an Ingress claims, before it becomes one or two routes.
struct claim {
  std::string host;  // lower-cased; "" any, "*.x" wildcard
  std::string path;
  path_type type = path_type::prefix;
  bool regex = false;       // use-regex on the host
  bool fallback = false;    // an Ingress's defaultBackend for its hosts
  std::vector<std::pair<std::string, std::string>> headers;  // a canary's header
  std::vector<std::pair<std::string, std::string>> cookies;  // a canary's cookie
  std::string pool;
  std::vector<config::cidr> allow_from;
  bool redirect = false;  // on the plain listener: to https instead
  std::string rewrite;    // rewrite-target
  std::uint64_t max_body_bytes = 0;  // proxy-body-size
  std::string ingress;  // namespace/name
  config::duration timeout{std::chrono::seconds(60)};  // ingress-nginx's proxy-read-timeout
  config::duration send_timeout{std::chrono::seconds(60)};  // ingress-nginx's proxy-send-timeout
  std::optional<config::route_client_limits> client_limits;  // limit-rps, limit-connections
};

int host_rank(const std::string& h) { return h.empty() ? 2 : h.starts_with("*.") ? 1 : 0; }

int type_rank(const claim& c) {
  if (c.type == path_type::exact) return 0;
  if (c.regex) return 2;
  return c.type == path_type::prefix ? 1 : 2;
}

// First match wins in lb's router, so the order is the precedence.
bool before(const claim& a, const claim& b) {
  const auto key = [](const claim& c) {
    return std::make_tuple(host_rank(c.host), c.host, c.fallback, -static_cast<long>(c.path.size()), type_rank(c),
                           c.headers.empty(), c.cookies.empty(), c.path);
  };
  return key(a) < key(b);
}

// What two claims must share to conflict (headers and cookies aside: only
// canaries have them, and those never conflict).
std::string target_of(const claim& c) {
  return c.host + '\0' + c.path + '\0' + static_cast<char>('0' + static_cast<int>(c.type)) + (c.fallback ? "f" : "");
}

// The host's problem, or "" when it is usable ("" and "*.example.com" are).
std::string host_problem(const std::string& host) {
  if (host.empty()) return {};
  const std::string name = host.starts_with("*.") ? host.substr(2) : host;
  if (!config::is_hostname(name) || name.find('*') != std::string::npos) return "'" + host + "' is not a host name";
  return {};
}

std::string path_problem(const http_path& p) {
  if (p.path.empty()) return {};  // "/"
  if (!p.path.starts_with("/")) return "path '" + p.path + "' does not start with '/'";
  if (!config::is_origin_form(p.path) || p.path.find_first_of("?#") != std::string::npos)
    return "path '" + p.path + "' has characters a path cannot have";
  return {};
}

std::string escape_dots(const std::string& s) {
  std::string out;
  for (const char c : s) {
    if (c == '.') out += '\\';
    out += c;
  }
  return out;
}

config::host_match host_match_of(const std::string& host) {
  std::string error;
  if (host.empty()) return {};
  // The API's wildcard covers exactly one label; lb's "*.x" suffix any number.
  if (host.starts_with("*.")) return *config::parse_host_match("~[^.]+" + escape_dots(host.substr(1)), error);
  return *config::parse_host_match(host, error);
}

// The routes one claim becomes.
std::vector<config::route> routes_of(const claim& c, std::vector<note>& notes) {
  std::vector<config::route> out;
  config::route r;
  r.host = host_match_of(c.host);
  r.pool = c.pool;
  r.timeout = c.timeout;
  r.send_timeout = c.send_timeout;
  r.client_limits = c.client_limits;
  r.headers = c.headers;
  r.cookies = c.cookies;
  r.allow_from = c.allow_from;
  r.max_body_bytes = c.max_body_bytes;
  if (c.redirect) r.redirect_https.emplace();  // 308, to https's own port 443
  r.name_pos.file = r.pool_pos.file = "Ingress " + c.ingress;
  const std::string path = c.path.empty() ? "/" : c.path;
  if (!c.rewrite.empty()) {
    // ingress-nginx's `rewrite "(?i)PATH" TARGET break;`: the whole path
    // becomes TARGET with the groups of the path read as a regex.
    const std::string pattern = "(?i)" + path;
    if (const auto e = config::regex_error(pattern, false); !e.empty()) {
      notes.push_back({fidelity::unsupported, "path " + path, "not a regular expression lb reads (" + e + "); left out"});
      return out;
    }
    r.rewrite = config::path_rewrite{pattern, c.rewrite};
  }
  if (c.type == path_type::exact) {
    r.path = {config::path_match::kind::exact, path};
    out.push_back(r);
  } else if (c.regex) {
    // ingress-nginx's `location ~* "^PATH"`: case-insensitive, a prefix.
    const std::string pattern = "(?i)(?:" + path + ").*";
    if (const auto e = config::regex_error(pattern, false); !e.empty()) {
      notes.push_back({fidelity::unsupported, "path " + path, "not a regular expression lb reads (" + e + "); left out"});
      return out;
    }
    r.path = {config::path_match::kind::regex, pattern};
    out.push_back(r);
  } else if (c.type == path_type::implementation_specific || c.fallback) {
    r.path = {config::path_match::kind::prefix, path};  // nginx's location: byte-wise
    out.push_back(r);
  } else {
    // Prefix matches whole elements: "/foo" is "/foo" itself or "/foo/...".
    std::string p = path;
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    if (p == "/") {
      r.path = {config::path_match::kind::prefix, "/"};
      out.push_back(r);
    } else {
      r.path = {config::path_match::kind::exact, p};
      out.push_back(r);
      r.path = {config::path_match::kind::prefix, p + "/"};
      out.push_back(r);
    }
  }
  return out;
}

bool ours(const ingress& ing, const cluster& objects, const options& o, std::string& why) {
  auto class_ours = [&](const std::string& name) {
    if (name == o.class_name) return true;
    const auto it = objects.classes.find(name);
    return it != objects.classes.end() && it->second.controller == o.controller;
  };
  if (ing.class_name.empty()) {
    if (o.take_unclassed) return true;
    for (const auto& [k, c] : objects.classes)
      if (c.is_default && class_ours(k)) return true;
    why = "names no IngressClass, and lb's class is not the default";
    return false;
  }
  if (class_ours(ing.class_name)) return true;
  why = "IngressClass '" + ing.class_name + "' is not lb's ('" + o.class_name + "')";
  return false;
}

bool usable(const tls_secret& s) { return s.type == "kubernetes.io/tls" && !s.cert_pem.empty() && !s.key_pem.empty(); }

fidelity worst(const std::vector<note>& notes) {
  fidelity f = fidelity::supported;
  for (const auto& n : notes) f = std::max(f, n.level);
  return f;
}

struct translator {
  translator(const cluster& c, const options& o, endpoint_memo* memo) : objects(c), opts(o), pools(c, memo) {}

  const cluster& objects;
  const options& opts;
  translation out;
  pool_builder pools;
  std::vector<claim> claims;
  std::map<std::string, std::size_t> main_claims;  // target_of() -> index in claims
  std::vector<const ingress*> canaries;
  std::map<std::string, object_report*> reports;
  std::set<std::string> regex_hosts;
  std::vector<config::tcp_route> passthrough;  // ssl-passthrough hosts, oldest Ingress first
  std::set<std::string> passthrough_hosts;

  // `path`: the Ingress path the backend serves ("/" for a default backend),
  // the affinity cookie's Path unless session-cookie-path sets one.
  pool_spec spec_of(const ingress& ing, const nginx_annotations& a, const service_backend& b,
                    const std::string& path) const {
    pool_spec s;
    if (a.affinity) {
      s.affinity = a.affinity;
      // A regex is no cookie Path: ingress-nginx asks for session-cookie-path then; lb takes "/".
      if (s.affinity->path.empty())
        s.affinity->path = a.use_regex || !a.rewrite_target.empty() || !config::is_cookie_value(path) ? "/" : path;
    }
    s.namespace_ = ing.meta.namespace_;
    s.backend = b;
    s.protocol = a.protocol;
    if (a.balancer) s.balancer = *a.balancer;
    s.hash_key = a.hash_key;
    if (a.connect_timeout) s.connect_timeout = *a.connect_timeout;
    return s;
  }

  // The claims of one Ingress; `canary` ones are attached to the main
  // Ingress's claims later.
  std::vector<claim> claims_of(const ingress& ing, const nginx_annotations& a, std::vector<note>& notes) {
    std::vector<claim> out;
    claim base;
    base.ingress = ing.meta.key();
    if (a.read_timeout) base.timeout = *a.read_timeout;
    if (a.send_timeout) base.send_timeout = *a.send_timeout;
    base.client_limits = a.client_limits;
    base.allow_from = a.allow_from;
    base.max_body_bytes = a.max_body_bytes;
    // The hosts this Ingress has a usable certificate for: ssl-redirect
    // sends their plain HTTP requests to https.
    std::set<std::string> tls_hosts;
    for (const auto& t : ing.tls) {
      const auto s = objects.secrets.find(ing.meta.namespace_ + "/" + t.secret);
      if (s == objects.secrets.end() || !usable(s->second)) continue;
      for (const auto& h : t.hosts) tls_hosts.insert(config::to_lower(h));
    }
    std::vector<std::string> hosts;
    for (std::size_t i = 0; i < ing.rules.size(); ++i) {
      const auto& rule = ing.rules[i];
      const std::string subject = "spec.rules[" + std::to_string(i) + "]";
      const auto host = config::to_lower(rule.host);
      if (const auto e = host_problem(host); !e.empty()) {
        notes.push_back({fidelity::unsupported, subject + ".host", e + "; the rule is left out"});
        continue;
      }
      hosts.push_back(host);
      if (a.use_regex || !a.rewrite_target.empty()) regex_hosts.insert(host);
      for (std::size_t k = 0; k < rule.paths.size(); ++k) {
        const auto& p = rule.paths[k];
        const std::string ps = subject + ".http.paths[" + std::to_string(k) + "]";
        if (const auto e = path_problem(p); !e.empty()) {
          notes.push_back({fidelity::unsupported, ps, e + "; left out"});
          continue;
        }
        claim c = base;
        c.host = host;
        c.redirect = a.force_ssl_redirect || (a.ssl_redirect && tls_hosts.count(host));
        c.path = p.path.empty() ? "/" : p.path;
        c.type = p.type;
        c.rewrite = a.rewrite_target;
        c.pool = pools.pool_for(spec_of(ing, a, p.backend, c.path), notes, ps + ".backend");
        out.push_back(std::move(c));
      }
    }
    if (ing.default_backend) {
      const auto pool = pools.pool_for(spec_of(ing, a, *ing.default_backend, "/"), notes, "spec.defaultBackend");
      if (hosts.empty()) hosts.push_back("");  // no rules: the default for every host
      for (const auto& h : hosts) {
        claim c = base;
        c.host = h;
        c.path = "/";
        c.fallback = true;
        c.rewrite = a.rewrite_target;  // as ingress-nginx: its location takes the Ingress's annotations
        c.pool = pool;
        out.push_back(std::move(c));
      }
    }
    return out;
  }

  void add_main(const ingress& ing, const nginx_annotations& a, object_report& rep) {
    for (auto& c : claims_of(ing, a, rep.notes)) {
      const auto [at, fresh] = main_claims.emplace(target_of(c), claims.size());
      if (!fresh) {
        const auto held = claims.begin() + static_cast<std::ptrdiff_t>(at->second);
        rep.notes.push_back({fidelity::unsupported, "host '" + c.host + "' path '" + c.path + "'",
                             "already served by the older Ingress " + held->ingress + "; left out"});
        if (auto it = reports.find(held->ingress); it != reports.end())
          it->second->notes.push_back({fidelity::supported, "host '" + c.host + "' path '" + c.path + "'",
                                       "also claimed by the newer Ingress " + c.ingress + ", which is left out"});
        continue;
      }
      claims.push_back(std::move(c));
    }
  }

  void add_canary(const ingress& ing, const nginx_annotations& a, object_report& rep) {
    for (auto& c : claims_of(ing, a, rep.notes)) {
      const auto found = main_claims.find(target_of(c));
      const std::string subject = "host '" + c.host + "' path '" + c.path + "'";
      if (found == main_claims.end()) {
        rep.notes.push_back({fidelity::unsupported, subject, "a canary needs an Ingress that is not a canary "
                                                             "for the same host and path; left out"});
        continue;
      }
      // ingress-nginx's order: the header decides, then the cookie, then
      // the weight. 'always' goes to the canary; 'never' (for a header
      // without canary-by-header-value) to the main backends alone, which
      // needs a claim of its own only when something after it could still
      // pick the canary (the cookie, the weight). Claims with a header sort
      // before those with a cookie, both before the main one.
      auto& main = claims[found->second];
      const std::string main_pool = main.pool;
      if (a.canary_weight) main.pool = pools.weighted(main.pool, c.pool, *a.canary_weight, a.canary_weight_total);
      c.timeout = main.timeout;
      c.send_timeout = main.send_timeout;
      const claim never_base = [&] {
        claim n = main;
        n.pool = main_pool;
        return n;
      }();
      const bool split = a.canary_weight.has_value();
      // Copies: each push_back may move `claims`.
      if (!a.canary_header.empty()) {
        claim h = c;
        h.headers = {{a.canary_header, a.canary_header_value.empty() ? "always" : a.canary_header_value}};
        claims.push_back(std::move(h));
        if ((split || !a.canary_cookie.empty()) && a.canary_header_value.empty()) {
          claim n = never_base;
          n.headers = {{a.canary_header, "never"}};
          claims.push_back(std::move(n));
        }
      }
      if (!a.canary_cookie.empty()) {
        claim k = c;
        k.cookies = {{a.canary_cookie, "always"}};
        claims.push_back(std::move(k));
        if (split) {
          claim n = never_base;
          n.cookies = {{a.canary_cookie, "never"}};
          claims.push_back(std::move(n));
        }
      }
    }
  }

  // ssl-passthrough: each host of the Ingress sends its TLS connections, by
  // SNI and undeciphered, to the backend of its "/" path (else its first
  // path, else the default backend), as ingress-nginx's passthrough server.
  // The older Ingress keeps a host two of them pass through.
  void add_passthrough(const ingress& ing, const nginx_annotations& a, object_report& rep) {
    for (std::size_t i = 0; i < ing.rules.size(); ++i) {
      const auto& rule = ing.rules[i];
      const std::string subject = "spec.rules[" + std::to_string(i) + "]";
      const auto host = config::to_lower(rule.host);
      if (host.empty() || !host_problem(host).empty()) {
        rep.notes.push_back({fidelity::unsupported, subject + ".host",
                             "ssl-passthrough routes by the TLS server name: a rule needs a host; left out"});
        continue;
      }
      // ingress-nginx passes exact names through; a wildcard would also take
      // names other Ingresses terminate.
      if (host.starts_with("*.")) {
        rep.notes.push_back({fidelity::unsupported, subject + ".host",
                             "ssl-passthrough takes exact host names only (as ingress-nginx); '" + host +
                                 "' is terminated by lb"});
        continue;
      }
      const service_backend* backend = nullptr;
      for (const auto& p : rule.paths)
        if (p.path.empty() || p.path == "/") backend = &p.backend;
      if (!backend && !rule.paths.empty()) backend = &rule.paths.front().backend;
      if (!backend && ing.default_backend) backend = &*ing.default_backend;
      if (!backend) continue;
      if (!passthrough_hosts.insert(host).second) {
        rep.notes.push_back({fidelity::unsupported, subject + ".host",
                             "'" + host + "' is passed through for an older Ingress already; left out"});
        continue;
      }
      // Bytes, not requests: of the annotations only the balancer and the
      // connect timeout mean anything.
      pool_spec spec;
      spec.namespace_ = ing.meta.namespace_;
      spec.backend = *backend;
      if (a.balancer) spec.balancer = *a.balancer;
      if (a.connect_timeout) spec.connect_timeout = *a.connect_timeout;
      config::tcp_route r;
      r.name = config_name(ing.meta.namespace_ + "_" + ing.meta.name + "_passthrough_" + std::to_string(i));
      r.sni = config::host_match{config::host_match::kind::exact, host};
      r.pool = pools.pool_for(spec, rep.notes, subject + ".backend");
      r.name_pos.file = r.pool_pos.file = "Ingress " + ing.meta.key();
      passthrough.push_back(std::move(r));
    }
  }

  void certificates(const ingress& ing, object_report& rep, std::vector<config::tls_certificate>& certs,
                    std::set<std::string>& taken) {
    for (std::size_t i = 0; i < ing.tls.size(); ++i) {
      const auto& t = ing.tls[i];
      const std::string subject = "spec.tls[" + std::to_string(i) + "]";
      if (t.secret.empty()) {
        rep.notes.push_back({fidelity::unsupported, subject, "no secretName: lb has no default certificate of its own"});
        continue;
      }
      const auto key = ing.meta.namespace_ + "/" + t.secret;
      const auto it = objects.secrets.find(key);
      if (it == objects.secrets.end()) {
        rep.notes.push_back({fidelity::unsupported, subject, "Secret '" + t.secret + "' not found; its hosts get "
                                                             "another certificate until it exists"});
        continue;
      }
      const auto& s = it->second;
      if (!usable(s)) {
        rep.notes.push_back({fidelity::unsupported, subject, "Secret '" + t.secret + "' is not a kubernetes.io/tls "
                                                             "Secret with tls.crt and tls.key"});
        continue;
      }
      if (!taken.insert(key).second) continue;
      const auto base = opts.tls_dir + "/" + config_name(ing.meta.namespace_ + "_" + t.secret);
      config::tls_certificate c;
      c.cert = base + ".crt";
      c.key = base + ".key";
      c.pos.file = "Secret " + key;
      out.files.push_back({c.cert, s.cert_pem, false});
      out.files.push_back({c.key, s.key_pem, true});
      certs.push_back(std::move(c));
    }
  }

  void run() {
    // Oldest first: conflicts go to the older Ingress, as in ingress-nginx.
    std::vector<const ingress*> order;
    for (const auto& [k, ing] : objects.ingresses) order.push_back(&ing);
    std::stable_sort(order.begin(), order.end(), [](const ingress* a, const ingress* b) {
      return std::tie(a->meta.creation_timestamp, a->meta.namespace_, a->meta.name) <
             std::tie(b->meta.creation_timestamp, b->meta.namespace_, b->meta.name);
    });
    // `reports` points into out.report: no reallocation while it is used.
    out.report.reserve(order.size() + objects.undecodable.size());
    std::vector<std::pair<const ingress*, nginx_annotations>> served;
    for (const auto* ing : order) {
      auto& rep = out.report.emplace_back();
      rep.kind = "Ingress";
      rep.key = ing->meta.key();
      reports[rep.key] = &rep;
      std::string why;
      if (!ours(*ing, objects, opts, why)) {
        rep.served = false;
        rep.notes.push_back({fidelity::supported, "spec.ingressClassName", why + ": not lb's to serve"});
        continue;
      }
      auto a = read_annotations(ing->meta.annotations, opts.annotations_prefix);
      rep.notes = a.notes;
      if (a.rejected()) {
        rep.served = false;
        continue;
      }
      if (a.canary) canaries.push_back(ing);
      else add_main(*ing, a, rep);
      if (a.ssl_passthrough && !a.canary) add_passthrough(*ing, a, rep);
      served.emplace_back(ing, std::move(a));
    }
    for (auto& [ing, a] : served)
      if (a.canary) add_canary(*ing, a, *reports[ing->meta.key()]);
    for (auto& c : claims)
      if (regex_hosts.count(c.host) && c.type != path_type::exact && !c.fallback) c.regex = true;
    std::stable_sort(claims.begin(), claims.end(), before);

    std::vector<config::route> routes;
    std::map<std::string, int> counts;
    for (const auto& c : claims) {
      for (auto& r : routes_of(c, reports[c.ingress]->notes)) {
        const auto n = counts[c.ingress]++;
        r.name = config_name(std::string(objects.ingresses.at(c.ingress).meta.namespace_) + "_" +
                             objects.ingresses.at(c.ingress).meta.name + "_" + std::to_string(n));
        routes.push_back(std::move(r));
      }
    }
    std::vector<config::tls_certificate> certs;
    std::set<std::string> taken;
    for (auto& [ing, a] : served) certificates(*ing, *reports[ing->meta.key()], certs, taken);

    auto& cfg = out.cfg;
    cfg.source = "kubernetes";
    std::set<std::string> used;
    for (const auto& r : routes) used.insert(r.pool);
    for (const auto& r : passthrough) used.insert(r.pool);
    cfg.pools = std::move(pools).take(used);
    config::listener http;
    http.name = "http";
    http.listen = opts.http;
    http.routes = routes;
    http.h2 = true;  // h2c by prior knowledge, as gRPC clients in the cluster use
    cfg.listeners.push_back(std::move(http));
    std::optional<config::listener> https;
    if (!certs.empty()) {
      https.emplace();
      https->name = "https";
      https->listen = opts.https;
      https->routes = std::move(routes);
      for (auto& r : https->routes) r.redirect_https.reset();  // already https
      https->h2 = true;
      https->tls.emplace();
      https->tls->certificates = std::move(certs);
      https->tls->alpn = {"h2", "http/1.1"};
    }
    if (!passthrough.empty()) {
      // The HTTPS address routes by SNI: passed-through hosts to their
      // Services, the others to the terminating listener behind it, with a
      // PROXY header so that it sees the real client (ingress-nginx's
      // passthrough proxy in front of port 442).
      config::listener sni;
      sni.name = "https";
      sni.proto = config::protocol::tcp;
      sni.listen = opts.https;
      sni.tcp_routes = std::move(passthrough);
      if (https) {
        https->name = "https_terminate";
        https->listen = opts.passthrough_listen;
        auto to = opts.passthrough_listen;
        if (to.host == "0.0.0.0") to.host = "127.0.0.1";
        else if (to.host == "::") to.host = "::1";
        // lb dials `to` from an address of its own: loopback, or `to`'s own
        // when it is not a loopback address.
        auto& ap = https->accept_proxy.emplace();
        ap.from = {*config::parse_cidr("127.0.0.0/8"), *config::parse_cidr("::1/128")};
        if (const auto own = config::parse_cidr(to.host)) ap.from.push_back(*own);
        config::pool behind;
        behind.name = "lb_https_terminate";
        behind.endpoints.push_back({to, 1});
        behind.proxy_protocol = config::proxy_version::v2;
        behind.name_pos.file = "the HTTPS listener";
        sni.pool = behind.name;
        cfg.pools.push_back(std::move(behind));
        cfg.listeners.push_back(std::move(*https));
      }
      cfg.listeners.push_back(std::move(sni));
    } else if (https) {
      cfg.listeners.push_back(std::move(*https));
    }
    for (const auto& u : objects.undecodable) {
      auto& rep = out.report.emplace_back();
      rep.kind = u.kind;
      rep.key = u.key;
      rep.served = false;
      rep.notes.push_back({fidelity::unsupported, "", u.error + "; left out"});
    }
    for (const auto& d : config::cross_check(cfg)) {
      auto& rep = out.report.emplace_back();
      rep.kind = "Config";
      rep.key = d.file;
      rep.notes.push_back({fidelity::unsupported, "", d.message});
    }
    for (auto& r : out.report) r.level = worst(r.notes);
  }
};

}  // namespace

translation translate(const cluster& objects, const options& opts, endpoint_memo* memo) {
  translator t(objects, opts, memo);
  t.run();
  if (memo) memo->trim();
  return std::move(t.out);
}

}  // namespace lb::ingress
