#include "lb/ingress/translate.h"

#include <gtest/gtest.h>

#include "lb/config/loader.h"
#include "lb/config/parse.h"
#include "lb/core/cookie.h"
#include "lb/ingress/config_yaml.h"
#include "lb/ingress/manifest.h"
#include "lb/router/table.h"

namespace lb::ingress {
namespace {

const std::string services = R"(
apiVersion: v1
kind: Service
metadata: { name: a, namespace: ns }
spec: { ports: [{ name: http, port: 80, targetPort: 8080 }] }
---
apiVersion: v1
kind: Service
metadata: { name: b, namespace: ns }
spec: { ports: [{ name: http, port: 80 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: a-1, namespace: ns, labels: { kubernetes.io/service-name: a } }
addressType: IPv4
ports: [{ name: http, port: 8080, protocol: TCP }]
endpoints:
  - { addresses: [10.0.0.2], conditions: { ready: true } }
  - { addresses: [10.0.0.1] }
  - { addresses: [10.0.0.3], conditions: { ready: false, serving: true, terminating: true } }
  - { addresses: [10.0.0.4], conditions: { ready: false } }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: b-1, namespace: ns, labels: { kubernetes.io/service-name: b } }
addressType: IPv4
ports: [{ name: http, port: 9000, protocol: TCP }]
endpoints:
  - { addresses: [10.0.1.1], conditions: { ready: false, serving: true, terminating: true } }
)";

std::string ingress(const std::string& name, const std::string& created, const std::string& annotations,
                    const std::string& spec) {
  return "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: " + name +
         "\n  namespace: ns\n  creationTimestamp: \"" + created + "\"\n  annotations: {" + annotations +
         "}\nspec:\n  ingressClassName: lb\n" + spec;
}

std::string rule(const std::string& host, const std::string& path, const std::string& type, const std::string& svc) {
  return "  rules:\n    - host: \"" + host + "\"\n      http:\n        paths:\n          - { path: \"" + path +
         "\", pathType: " + type + ", backend: { service: { name: " + svc + ", port: { number: 80 } } } }\n";
}

struct translated {
  translation t;
  std::unique_ptr<router::table> routes;

  explicit translated(const std::string& yaml, options o = {}) {
    cluster objects;
    EXPECT_EQ(read_manifests(services + yaml, "test.yaml", objects), "");
    t = translate(objects, o);
    routes = std::make_unique<router::table>(t.cfg.listeners.at(0).routes);
  }
  // The pool a request goes to, or "" when no route matches.
  std::string pool(const std::string& host, const std::string& path,
                   std::vector<std::pair<std::string, std::string>> headers = {}) const {
    using list = decltype(headers);
    router::header_source src{&headers,
                              [](const void* ctx, std::string_view n) -> std::optional<std::string_view> {
                                for (const auto& [k, v] : *static_cast<const list*>(ctx))
                                  if (k == n) return v;
                                return std::nullopt;
                              },
                              [](const void* ctx, std::string_view n) -> std::optional<std::string_view> {
                                for (const auto& [k, v] : *static_cast<const list*>(ctx))
                                  if (k == "cookie")
                                    if (const auto c = cookie_in(v, n)) return c;
                                return std::nullopt;
                              }};
    const auto i = routes->match(host, path, src);
    return i ? t.cfg.listeners[0].routes[*i].pool : "";
  }
  // The first route for `host` (as written in the Ingress).
  const config::route& route_for(const std::string& host) const {
    for (const auto& r : t.cfg.listeners.at(0).routes)
      if (r.host.value == host) return r;
    throw std::runtime_error("no route for " + host);
  }
  const config::pool& pool_named(const std::string& name) const {
    for (const auto& p : t.cfg.pools)
      if (p.name == name) return p;
    throw std::runtime_error("no pool " + name);
  }
  const object_report& report(const std::string& key) const {
    for (const auto& r : t.report)
      if (r.key == key) return r;
    throw std::runtime_error("no report " + key);
  }
};

TEST(translate, prefix_matches_whole_path_elements_and_exact_wins_at_equal_length) {
  translated x(ingress("i", "2025-01-01T00:00:00Z", "", rule("h.test", "/foo", "Prefix", "a")) +
               ingress("j", "2025-01-02T00:00:00Z", "", rule("h.test", "/foo", "Exact", "b")));
  EXPECT_EQ(x.pool("h.test", "/foo"), "ns_b_80");  // Exact before Prefix
  EXPECT_EQ(x.pool("h.test", "/foo/bar"), "ns_a_80");
  EXPECT_EQ(x.pool("h.test", "/foobar"), "");  // not a path element
  EXPECT_EQ(x.pool("other.test", "/foo"), "");
}

TEST(translate, longest_path_first_whatever_the_ingress_order) {
  translated x(ingress("i", "2025-01-01T00:00:00Z", "", rule("h.test", "/", "Prefix", "a")) +
               ingress("j", "2025-01-02T00:00:00Z", "", rule("h.test", "/api/", "Prefix", "b")));
  EXPECT_EQ(x.pool("h.test", "/api"), "ns_b_80");  // a trailing '/' is ignored
  EXPECT_EQ(x.pool("h.test", "/api/x"), "ns_b_80");
  EXPECT_EQ(x.pool("h.test", "/apix"), "ns_a_80");
}

TEST(translate, wildcard_host_covers_one_label_and_exact_hosts_come_first) {
  translated x(ingress("i", "2025-01-01T00:00:00Z", "", rule("*.h.test", "/", "Prefix", "a")) +
               ingress("j", "2025-01-02T00:00:00Z", "", rule("x.h.test", "/", "Prefix", "b")));
  EXPECT_EQ(x.pool("x.h.test", "/"), "ns_b_80");
  EXPECT_EQ(x.pool("Y.H.test:8080", "/"), "ns_a_80");
  EXPECT_EQ(x.pool("a.b.h.test", "/"), "");
  EXPECT_EQ(x.pool("h.test", "/"), "");
}

TEST(translate, the_older_ingress_wins_a_conflict_and_both_are_told) {
  translated x(ingress("new", "2025-02-01T00:00:00Z", "", rule("h.test", "/", "Prefix", "b")) +
               ingress("old", "2025-01-01T00:00:00Z", "", rule("h.test", "/", "Prefix", "a")));
  EXPECT_EQ(x.pool("h.test", "/"), "ns_a_80");
  EXPECT_EQ(x.report("ns/new").level, fidelity::unsupported);
  EXPECT_NE(x.report("ns/new").notes.back().text.find("older Ingress ns/old"), std::string::npos);
  EXPECT_NE(x.report("ns/old").notes.back().text.find("newer Ingress ns/new"), std::string::npos);
  // The loser's pool is not in the config.
  EXPECT_EQ(x.t.cfg.pools.size(), 1u);
}

TEST(translate, ready_endpoints_and_terminating_ones_only_when_none_is_ready) {
  translated x(ingress("i", "2025-01-01T00:00:00Z", "", rule("h.test", "/", "Prefix", "a")) +
               ingress("j", "2025-01-01T00:00:00Z", "", rule("j.test", "/", "Prefix", "b")));
  const auto& a = x.pool_named("ns_a_80").endpoints;
  ASSERT_EQ(a.size(), 2u);  // sorted, the targetPort from the slice
  EXPECT_EQ(a[0].addr.str(), "10.0.0.1:8080");
  EXPECT_EQ(a[1].addr.str(), "10.0.0.2:8080");
  const auto& b = x.pool_named("ns_b_80").endpoints;
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].addr.str(), "10.0.1.1:9000");
}

TEST(translate, a_missing_service_is_an_empty_pool_and_reported) {
  translated x(ingress("i", "2025-01-01T00:00:00Z", "", rule("h.test", "/", "Prefix", "nope")));
  EXPECT_EQ(x.pool("h.test", "/"), "ns_nope_80");
  EXPECT_TRUE(x.pool_named("ns_nope_80").endpoints.empty());
  EXPECT_EQ(x.report("ns/i").level, fidelity::approximated);
}

TEST(translate, snippets_reject_the_whole_ingress) {
  translated x(ingress("i", "2025-01-01T00:00:00Z", "nginx.ingress.kubernetes.io/server-snippet: \"return 200;\"",
                       rule("h.test", "/", "Prefix", "a")));
  EXPECT_EQ(x.pool("h.test", "/"), "");
  EXPECT_FALSE(x.report("ns/i").served);
  EXPECT_EQ(x.report("ns/i").level, fidelity::rejected);
}

TEST(translate, use_regex_makes_the_hosts_paths_case_insensitive_prefix_regexes) {
  translated x(ingress("i", "2025-01-01T00:00:00Z", "nginx.ingress.kubernetes.io/use-regex: \"true\"",
                       rule("h.test", "/v[0-9]+/", "ImplementationSpecific", "a")) +
               ingress("j", "2025-01-02T00:00:00Z", "", rule("h.test", "/static", "Prefix", "b")));
  EXPECT_EQ(x.pool("h.test", "/V2/items"), "ns_a_80");
  EXPECT_EQ(x.pool("h.test", "/vx/items"), "");
  // use-regex applies to the whole host, as in ingress-nginx: /static is a regex prefix too.
  EXPECT_EQ(x.pool("h.test", "/STATICS"), "ns_b_80");
}

TEST(translate, rewrite_target_rewrites_with_the_path_groups_and_makes_the_host_regex) {
  translated x(ingress("i", "2025-01-01T00:00:00Z", "nginx.ingress.kubernetes.io/rewrite-target: /$2",
                       rule("h.test", "/something(/|$)(.*)", "ImplementationSpecific", "a")) +
               ingress("j", "2025-01-02T00:00:00Z", "", rule("h.test", "/static", "Prefix", "b")) +
               ingress("k", "2025-01-03T00:00:00Z", "nginx.ingress.kubernetes.io/rewrite-target: \"http://x/\"",
                       rule("k.test", "/", "Prefix", "a")));
  EXPECT_EQ(x.pool("h.test", "/something/new"), "ns_a_80");
  EXPECT_EQ(x.pool("h.test", "/SOMETHING"), "ns_a_80");
  EXPECT_EQ(x.pool("h.test", "/STATICS"), "ns_b_80");  // the host's paths are regexes, as with use-regex
  const auto& routes = x.t.cfg.listeners.at(0).routes;
  const auto at = [&](const std::string& path) {
    router::header_source none{nullptr, [](const void*, std::string_view) -> std::optional<std::string_view> {
      return std::nullopt;
    }};
    return *x.routes->match("h.test", path, none);
  };
  std::string out;
  ASSERT_TRUE(routes[at("/something/new")].rewrite);
  EXPECT_EQ(routes[at("/something/new")].rewrite->regex, "(?i)/something(/|$)(.*)");
  ASSERT_TRUE(x.routes->rewrite(at("/something/new"), "/Something/new/x?q=1", out));
  EXPECT_EQ(out, "/new/x?q=1");
  ASSERT_TRUE(x.routes->rewrite(at("/something"), "/something", out));
  EXPECT_EQ(out, "/");
  EXPECT_FALSE(routes[at("/static")].rewrite);  // only the Ingress that asks
  // A target that is no path: reported, the Ingress served without it.
  EXPECT_EQ(x.report("ns/k").level, fidelity::unsupported);
  EXPECT_EQ(x.pool("k.test", "/"), "ns_a_80");
  // And the YAML of `lb ingress translate` carries it.
  const auto back = config::load_string(to_yaml(x.t.cfg), "back.yaml");
  ASSERT_TRUE(back.ok()) << back.errors.front().str();
  ASSERT_TRUE(back.cfg->listeners.at(0).routes[at("/something/new")].rewrite);
  EXPECT_EQ(back.cfg->listeners.at(0).routes[at("/something/new")].rewrite->replacement, "/$2");
}

TEST(translate, proxy_body_size_is_the_routes_max_body_bytes) {
  const std::string a = "nginx.ingress.kubernetes.io/proxy-body-size: ";
  translated x(ingress("i", "2025-01-01T00:00:00Z", a + "8m", rule("i.test", "/", "Prefix", "a")) +
               ingress("j", "2025-01-01T00:00:00Z", a + "\"0\"", rule("j.test", "/", "Prefix", "a")) +
               ingress("k", "2025-01-01T00:00:00Z", a + "lots", rule("k.test", "/", "Prefix", "a")) +
               ingress("l", "2025-01-01T00:00:00Z", a + "\"512\"", rule("l.test", "/", "Prefix", "a")));
  const auto limit_of = [&](const std::string& host) {
    for (const auto& r : x.t.cfg.listeners.at(0).routes)
      if (r.host.value == host) return r.max_body_bytes;
    throw std::runtime_error("no route for " + host);
  };
  EXPECT_EQ(limit_of("i.test"), 8u << 20);
  EXPECT_EQ(limit_of("j.test"), 0u);  // nginx's 0: no limit
  EXPECT_EQ(limit_of("k.test"), 0u);
  EXPECT_EQ(x.report("ns/k").level, fidelity::unsupported);
  EXPECT_EQ(limit_of("l.test"), 512u);
  const auto back = config::load_string(to_yaml(x.t.cfg), "back.yaml");
  ASSERT_TRUE(back.ok()) << back.errors.front().str();
  bool seen = false;
  for (const auto& r : back.cfg->listeners.at(0).routes) seen = seen || r.max_body_bytes == (8u << 20);
  EXPECT_TRUE(seen);
}

TEST(translate, canary_by_header_and_by_weight) {
  const std::string canary = "nginx.ingress.kubernetes.io/canary: \"true\", ";
  translated x(ingress("main", "2025-01-01T00:00:00Z", "", rule("h.test", "/", "Prefix", "a")) +
               ingress("c", "2025-01-02T00:00:00Z",
                       canary + "nginx.ingress.kubernetes.io/canary-by-header: X-Canary, "
                                "nginx.ingress.kubernetes.io/canary-weight: \"20\"",
                       rule("h.test", "/", "Prefix", "b")));
  EXPECT_EQ(x.pool("h.test", "/", {{"x-canary", "always"}}), "ns_b_80");
  EXPECT_EQ(x.pool("h.test", "/", {{"x-canary", "never"}}), "ns_a_80");  // never the canary, as ingress-nginx
  const auto split = x.pool("h.test", "/", {{"x-canary", "other"}});
  const auto& p = x.pool_named(split);
  // a's two endpoints and b's one: b gets 20% of the requests.
  ASSERT_EQ(p.endpoints.size(), 3u);
  std::uint64_t total = 0, to_b = 0;
  for (const auto& e : p.endpoints) {
    total += e.weight;
    if (e.addr.host == "10.0.1.1") to_b += e.weight;
  }
  EXPECT_EQ(to_b * 100, total * 20);
}

TEST(translate, canary_by_cookie_after_the_header) {
  const std::string canary = "nginx.ingress.kubernetes.io/canary: \"true\", ";
  translated x(ingress("main", "2025-01-01T00:00:00Z", "", rule("h.test", "/", "Prefix", "a")) +
               ingress("c", "2025-01-02T00:00:00Z",
                       canary + "nginx.ingress.kubernetes.io/canary-by-header: X-Canary, "
                                "nginx.ingress.kubernetes.io/canary-by-cookie: Beta, "
                                "nginx.ingress.kubernetes.io/canary-weight: \"20\"",
                       rule("h.test", "/", "Prefix", "b")));
  EXPECT_EQ(x.pool("h.test", "/", {{"cookie", "a=1; Beta=always"}}), "ns_b_80");
  EXPECT_EQ(x.pool("h.test", "/", {{"cookie", "Beta=never"}}), "ns_a_80");
  EXPECT_EQ(x.pool("h.test", "/", {{"cookie", "beta=always"}}), x.pool("h.test", "/"));  // names as written
  // The header decides first, either way.
  EXPECT_EQ(x.pool("h.test", "/", {{"x-canary", "never"}, {"cookie", "Beta=always"}}), "ns_a_80");
  EXPECT_EQ(x.pool("h.test", "/", {{"x-canary", "always"}, {"cookie", "Beta=never"}}), "ns_b_80");
  // Neither: the weighted split.
  EXPECT_EQ(x.pool_named(x.pool("h.test", "/")).endpoints.size(), 3u);
  const auto& notes = x.report("ns/c").notes;
  const auto said = std::find_if(notes.begin(), notes.end(), [](const note& n) {
    return n.subject == "nginx.ingress.kubernetes.io/canary-by-cookie";
  });
  ASSERT_NE(said, notes.end());
  EXPECT_EQ(said->level, fidelity::supported);

  // Without a weight, 'never' needs no route of its own: the main one serves it.
  translated y(ingress("main", "2025-01-01T00:00:00Z", "", rule("h.test", "/", "Prefix", "a")) +
               ingress("c", "2025-01-02T00:00:00Z", canary + "nginx.ingress.kubernetes.io/canary-by-cookie: Beta",
                       rule("h.test", "/", "Prefix", "b")));
  EXPECT_EQ(y.pool("h.test", "/", {{"cookie", "Beta=always"}}), "ns_b_80");
  EXPECT_EQ(y.pool("h.test", "/", {{"cookie", "Beta=never"}}), "ns_a_80");
  EXPECT_EQ(y.pool("h.test", "/"), "ns_a_80");
  EXPECT_EQ(y.t.cfg.listeners.at(0).routes.size(), 2u);

  // A header's 'never' beats the cookie even without a weight.
  translated z(ingress("main", "2025-01-01T00:00:00Z", "", rule("h.test", "/", "Prefix", "a")) +
               ingress("c", "2025-01-02T00:00:00Z",
                       canary + "nginx.ingress.kubernetes.io/canary-by-header: X-Canary, "
                                "nginx.ingress.kubernetes.io/canary-by-cookie: Beta",
                       rule("h.test", "/", "Prefix", "b")));
  EXPECT_EQ(z.pool("h.test", "/", {{"x-canary", "never"}, {"cookie", "Beta=always"}}), "ns_a_80");
  EXPECT_EQ(z.pool("h.test", "/", {{"cookie", "Beta=always"}}), "ns_b_80");
}

TEST(translate, annotations_set_pools_and_routes) {
  translated x(ingress("i", "2025-01-01T00:00:00Z",
                       "nginx.ingress.kubernetes.io/proxy-connect-timeout: \"7\", "
                       "nginx.ingress.kubernetes.io/proxy-read-timeout: \"90\", "
                       "nginx.ingress.kubernetes.io/upstream-hash-by: \"$http_x_user\", "
                       "nginx.ingress.kubernetes.io/backend-protocol: HTTPS, "
                       "nginx.ingress.kubernetes.io/made-up: \"1\"",
                       rule("h.test", "/", "Prefix", "a")));
  const auto& p = x.pool_named(x.pool("h.test", "/"));
  EXPECT_EQ(p.connect_timeout, std::chrono::seconds(7));
  EXPECT_EQ(p.balancer, config::balancer_kind::ring_hash);
  EXPECT_EQ(p.hash_key.type, config::hash_key::kind::header);
  EXPECT_EQ(p.hash_key.name, "x-user");
  ASSERT_TRUE(p.tls);
  EXPECT_FALSE(p.tls->verify);
  EXPECT_EQ(x.t.cfg.listeners[0].routes[0].timeout, std::chrono::seconds(90));
  const auto& notes = x.report("ns/i").notes;
  const auto unknown = std::find_if(notes.begin(), notes.end(),
                                    [](const note& n) { return n.subject == "nginx.ingress.kubernetes.io/made-up"; });
  ASSERT_NE(unknown, notes.end());
  EXPECT_EQ(unknown->level, fidelity::unsupported);
}

const note* note_on(const object_report& r, const std::string& annotation) {
  for (const auto& n : r.notes)
    if (n.subject == "nginx.ingress.kubernetes.io/" + annotation) return &n;
  return nullptr;
}

TEST(translate, cookie_affinity_with_its_session_cookie_settings) {
  translated x(ingress("i", "2025-01-01T00:00:00Z",
                       "nginx.ingress.kubernetes.io/affinity: cookie, "
                       "nginx.ingress.kubernetes.io/affinity-mode: persistent, "
                       "nginx.ingress.kubernetes.io/session-cookie-name: route, "
                       "nginx.ingress.kubernetes.io/session-cookie-max-age: \"172800\", "
                       "nginx.ingress.kubernetes.io/session-cookie-expires: \"3600\", "
                       "nginx.ingress.kubernetes.io/session-cookie-samesite: None, "
                       "nginx.ingress.kubernetes.io/session-cookie-hash: sha1",
                       rule("h.test", "/shop", "Prefix", "a")) +
               ingress("j", "2025-01-01T00:00:00Z", "nginx.ingress.kubernetes.io/affinity: cookie",
                       rule("h.test", "/", "Prefix", "a")));
  const auto& p = x.pool_named(x.pool("h.test", "/shop/cart"));
  ASSERT_TRUE(p.affinity);
  EXPECT_EQ(p.affinity->name, "route");
  EXPECT_EQ(p.affinity->path, "/shop") << "the Ingress path, as ingress-nginx";
  EXPECT_EQ(p.affinity->max_age, std::chrono::seconds(172800)) << "Max-Age wins over Expires";
  EXPECT_EQ(p.affinity->same_site, "None");
  EXPECT_TRUE(p.affinity->secure) << "SameSite=None needs Secure";
  EXPECT_TRUE(p.affinity->http_only);
  const auto& r = x.report("ns/i");
  ASSERT_TRUE(note_on(r, "affinity"));
  EXPECT_EQ(note_on(r, "affinity")->level, fidelity::supported);
  EXPECT_EQ(note_on(r, "session-cookie-expires")->level, fidelity::approximated);
  EXPECT_EQ(note_on(r, "session-cookie-hash")->level, fidelity::unsupported);
  // The other Ingress to the same Service: its own pool, default cookie on its own path.
  const auto& q = x.pool_named(x.pool("h.test", "/"));
  EXPECT_NE(q.name, p.name);
  ASSERT_TRUE(q.affinity);
  EXPECT_EQ(q.affinity->name, "INGRESSCOOKIE");
  EXPECT_EQ(q.affinity->path, "/");
  EXPECT_EQ(q.affinity->max_age.count(), 0) << "a session cookie";
  EXPECT_FALSE(q.affinity->secure);
  // And it survives the YAML round trip.
  const auto back = config::load_string(to_yaml(x.t.cfg), "back.yaml");
  ASSERT_TRUE(back.ok()) << back.errors.front().str() << "\n" << to_yaml(x.t.cfg);
  for (std::size_t i = 0; i < back.cfg->pools.size(); ++i) {
    const auto& a = back.cfg->pools[i].affinity;
    const auto& b = x.t.cfg.pools[i].affinity;
    ASSERT_EQ(a.has_value(), b.has_value());
    if (!a) continue;
    EXPECT_EQ(a->name, b->name);
    EXPECT_EQ(a->path, b->path);
    EXPECT_EQ(a->max_age, b->max_age);
    EXPECT_EQ(a->secure, b->secure);
    EXPECT_EQ(a->same_site, b->same_site);
  }
}

TEST(translate, session_cookie_settings_without_affinity_are_reported_not_used) {
  translated x(ingress("i", "2025-01-01T00:00:00Z",
                       "nginx.ingress.kubernetes.io/affinity: ip, "
                       "nginx.ingress.kubernetes.io/session-cookie-name: s",
                       rule("h.test", "/", "Prefix", "a")));
  EXPECT_FALSE(x.pool_named(x.pool("h.test", "/")).affinity);
  const auto& r = x.report("ns/i");
  EXPECT_EQ(note_on(r, "affinity")->level, fidelity::unsupported);
  EXPECT_EQ(note_on(r, "session-cookie-name")->level, fidelity::unsupported);
}

TEST(translate, regex_paths_put_the_affinity_cookie_on_slash) {
  translated x(ingress("i", "2025-01-01T00:00:00Z",
                       "nginx.ingress.kubernetes.io/affinity: cookie, nginx.ingress.kubernetes.io/use-regex: \"true\"",
                       rule("h.test", "/api/v[0-9]+", "ImplementationSpecific", "a")));
  const auto& p = x.pool_named(x.pool("h.test", "/api/v2/x"));
  ASSERT_TRUE(p.affinity);
  EXPECT_EQ(p.affinity->path, "/");
}

TEST(translate, proxy_send_timeout_is_the_routes_send_timeout) {
  translated x(ingress("i", "2025-01-01T00:00:00Z", "nginx.ingress.kubernetes.io/proxy-send-timeout: \"15\"",
                       rule("h.test", "/", "Prefix", "a")) +
               ingress("j", "2025-01-01T00:00:00Z", "", rule("k.test", "/", "Prefix", "a")));
  EXPECT_EQ(x.route_for("h.test").write_timeout(), std::chrono::seconds(15));
  EXPECT_EQ(x.route_for("k.test").write_timeout(), std::chrono::seconds(60)) << "ingress-nginx's default";
  EXPECT_EQ(note_on(x.report("ns/i"), "proxy-send-timeout")->level, fidelity::supported);
  const auto back = config::load_string(to_yaml(x.t.cfg), "back.yaml");
  ASSERT_TRUE(back.ok());
  for (const auto& r : back.cfg->listeners[0].routes)
    EXPECT_EQ(r.write_timeout(), r.host.value == "h.test" ? std::chrono::seconds(15) : std::chrono::seconds(60));
}

TEST(translate, limit_annotations_are_the_routes_client_limits) {
  translated x(ingress("i", "2025-01-01T00:00:00Z",
                       "nginx.ingress.kubernetes.io/limit-rps: \"10\", "
                       "nginx.ingress.kubernetes.io/limit-burst-multiplier: \"3\", "
                       "nginx.ingress.kubernetes.io/limit-connections: \"4\", "
                       "nginx.ingress.kubernetes.io/limit-allowlist: \"10.0.0.0/8, 192.168.1.1\", "
                       "nginx.ingress.kubernetes.io/limit-rate: \"100\"",
                       rule("h.test", "/", "Prefix", "a")) +
               ingress("j", "2025-01-01T00:00:00Z", "nginx.ingress.kubernetes.io/limit-rpm: \"90\"",
                       rule("k.test", "/", "Prefix", "a")) +
               ingress("k", "2025-01-01T00:00:00Z",
                       "nginx.ingress.kubernetes.io/limit-burst-multiplier: \"2\", "
                       "nginx.ingress.kubernetes.io/limit-rps: \"many\"",
                       rule("m.test", "/", "Prefix", "a")));
  const auto& i = x.route_for("h.test").client_limits;
  ASSERT_TRUE(i);
  EXPECT_EQ(i->requests_per_second, 10u);
  EXPECT_EQ(i->burst, 30u) << "rate x limit-burst-multiplier";
  EXPECT_EQ(i->concurrent_requests, 4u);
  EXPECT_EQ(i->allowlist.size(), 2u);
  const auto& ri = x.report("ns/i");
  EXPECT_EQ(note_on(ri, "limit-rps")->level, fidelity::approximated);
  EXPECT_EQ(note_on(ri, "limit-connections")->level, fidelity::approximated);
  EXPECT_EQ(note_on(ri, "limit-allowlist")->level, fidelity::supported);
  EXPECT_EQ(note_on(ri, "limit-rate")->level, fidelity::unsupported);
  const auto& j = x.route_for("k.test").client_limits;
  ASSERT_TRUE(j);
  EXPECT_EQ(j->requests_per_second, 2u) << "90 a minute, rounded up to whole requests a second";
  EXPECT_EQ(j->burst, 8u) << "90 x 5 a minute, in a second";
  EXPECT_FALSE(x.route_for("m.test").client_limits) << "no usable limit";
  const auto& rk = x.report("ns/k");
  EXPECT_EQ(note_on(rk, "limit-rps")->level, fidelity::unsupported);
  EXPECT_EQ(note_on(rk, "limit-burst-multiplier")->level, fidelity::unsupported);
  // The YAML loads back with the same limits.
  const auto back = config::load_string(to_yaml(x.t.cfg), "back.yaml");
  ASSERT_TRUE(back.ok()) << back.errors.front().str() << "\n" << to_yaml(x.t.cfg);
  for (const auto& r : back.cfg->listeners[0].routes) {
    if (r.host.value != "h.test") continue;
    ASSERT_TRUE(r.client_limits);
    EXPECT_EQ(r.client_limits->burst, 30u);
    EXPECT_EQ(r.client_limits->concurrent_requests, 4u);
    EXPECT_EQ(r.client_limits->allowlist.size(), 2u);
  }
}

TEST(translate, ssl_passthrough_routes_its_hosts_by_sni_in_front_of_the_terminating_listener) {
  const std::string secret = "---\napiVersion: v1\nkind: Secret\nmetadata: { name: s, namespace: ns }\ntype: "
                             "kubernetes.io/tls\ndata: { tls.crt: Q0VSVA==, tls.key: S0VZMQ== }\n";
  const std::string pass = "nginx.ingress.kubernetes.io/ssl-passthrough: \"true\"";
  translated x(secret +
               ingress("t", "2025-01-01T00:00:00Z", "", "  tls: [{ hosts: [web.test], secretName: s }]\n" +
                                                            rule("web.test", "/", "Prefix", "a")) +
               ingress("p", "2025-01-01T00:00:00Z", pass, rule("db.test", "/", "Prefix", "b")) +
               ingress("w", "2025-01-02T00:00:00Z", pass, rule("*.pass.test", "/x", "Prefix", "a")) +
               ingress("late", "2025-01-03T00:00:00Z", pass, rule("db.test", "/", "Prefix", "a")));
  const auto& ls = x.t.cfg.listeners;
  ASSERT_EQ(ls.size(), 3u) << to_yaml(x.t.cfg);
  EXPECT_EQ(ls[0].name, "http");
  const auto& behind = ls[1];
  EXPECT_EQ(behind.name, "https_terminate");
  EXPECT_EQ(behind.listen.str(), "127.0.0.1:442");
  ASSERT_TRUE(behind.tls);
  ASSERT_TRUE(behind.accept_proxy) << "the real client comes in a PROXY header";
  const auto& front = ls[2];
  EXPECT_EQ(front.name, "https");
  EXPECT_EQ(front.proto, config::protocol::tcp);
  EXPECT_EQ(front.listen.str(), "0.0.0.0:443");
  ASSERT_EQ(front.tcp_routes.size(), 1u) << "a wildcard is not passed through (as ingress-nginx)";
  EXPECT_EQ(front.tcp_routes[0].sni.type, config::host_match::kind::exact);
  EXPECT_EQ(front.tcp_routes[0].sni.value, "db.test");
  EXPECT_EQ(x.pool_named(front.tcp_routes[0].pool).endpoints.at(0).addr.str(), "10.0.1.1:9000");
  const auto& wild = x.report("ns/w").notes;
  EXPECT_TRUE(std::any_of(wild.begin(), wild.end(), [](const note& n) {
    return n.level == fidelity::unsupported && n.text.find("exact host names only") != std::string::npos;
  }));
  const auto& to_tls = x.pool_named(front.pool);
  EXPECT_EQ(to_tls.proxy_protocol, config::proxy_version::v2);
  EXPECT_EQ(to_tls.endpoints.at(0).addr.str(), "127.0.0.1:442");
  const auto& late = x.report("ns/late").notes;
  EXPECT_TRUE(std::any_of(late.begin(), late.end(), [](const note& n) {
    return n.level == fidelity::unsupported && n.text.find("older Ingress") != std::string::npos;
  }));
  EXPECT_EQ(note_on(x.report("ns/p"), "ssl-passthrough")->level, fidelity::supported);
  // The YAML loads back: the TCP listener, its routes and the PROXY hop included.
  const auto back = config::load_string(to_yaml(x.t.cfg), "back.yaml");
  ASSERT_TRUE(back.ok()) << back.errors.front().str() << "\n" << to_yaml(x.t.cfg);
  ASSERT_EQ(back.cfg->listeners.size(), 3u);
  EXPECT_EQ(back.cfg->listeners[2].tcp_routes.size(), 1u);
  EXPECT_EQ(back.cfg->listeners[2].tcp_routes[0].sni.value, "db.test");
  EXPECT_TRUE(back.cfg->listeners[1].accept_proxy);
}

TEST(translate, ssl_passthrough_trusts_the_proxy_header_from_where_lb_dials) {
  const std::string secret = "---\napiVersion: v1\nkind: Secret\nmetadata: { name: s, namespace: ns }\ntype: "
                             "kubernetes.io/tls\ndata: { tls.crt: Q0VSVA==, tls.key: S0VZMQ== }\n";
  options o;
  o.passthrough_listen = *config::parse_address("10.1.2.3:8443");
  translated x(secret +
                   ingress("t", "2025-01-01T00:00:00Z", "", "  tls: [{ hosts: [web.test], secretName: s }]\n" +
                                                                rule("web.test", "/", "Prefix", "a")) +
                   ingress("p", "2025-01-01T00:00:00Z", "nginx.ingress.kubernetes.io/ssl-passthrough: \"true\"",
                           rule("db.test", "/", "Prefix", "b")),
               o);
  const auto& behind = x.t.cfg.listeners.at(1);
  ASSERT_TRUE(behind.accept_proxy);
  const auto& from = behind.accept_proxy->from;
  EXPECT_TRUE(std::any_of(from.begin(), from.end(), [](const config::cidr& c) {
    return !c.v6 && c.prefix == 32 && c.bytes[0] == 10 && c.bytes[1] == 1 && c.bytes[2] == 2 && c.bytes[3] == 3;
  })) << "lb connects from the listener's own address";
  EXPECT_EQ(x.pool_named(x.t.cfg.listeners.at(2).pool).endpoints.at(0).addr.str(), "10.1.2.3:8443");
}

TEST(translate, ssl_passthrough_without_certificates_has_no_terminating_listener) {
  translated x(ingress("p", "2025-01-01T00:00:00Z", "nginx.ingress.kubernetes.io/ssl-passthrough: \"true\"",
                       rule("db.test", "/", "Prefix", "b")));
  const auto& ls = x.t.cfg.listeners;
  ASSERT_EQ(ls.size(), 2u);
  EXPECT_EQ(ls[1].proto, config::protocol::tcp);
  EXPECT_EQ(ls[1].pool, "") << "other names are closed: nothing terminates TLS";
  EXPECT_TRUE(config::load_string(to_yaml(x.t.cfg), "back.yaml").ok()) << to_yaml(x.t.cfg);
}

TEST(translate, other_classes_are_left_alone_and_the_default_class_takes_unclassed) {
  const std::string unclassed = "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: { name: u, "
                                "namespace: ns }\nspec:\n" + rule("u.test", "/", "Prefix", "a");
  translated none(unclassed);
  EXPECT_EQ(none.pool("u.test", "/"), "");
  EXPECT_FALSE(none.report("ns/u").served);
  translated by_default(unclassed + "---\napiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata:\n"
                                    "  name: mine\n  annotations: { ingressclass.kubernetes.io/is-default-class: "
                                    "\"true\" }\nspec: { controller: lb.dev/ingress }\n");
  EXPECT_EQ(by_default.pool("u.test", "/"), "ns_a_80");
}

TEST(translate, the_yaml_loads_back_into_the_same_routes_and_pools) {
  translated x(ingress("i", "2025-01-01T00:00:00Z", "nginx.ingress.kubernetes.io/upstream-hash-by: \"$remote_addr\"",
                       rule("*.h.test", "/a", "Prefix", "a")) +
               ingress("j", "2025-01-01T00:00:00Z", "", rule("h.test", "/", "Prefix", "nope")));
  const auto back = config::load_string(to_yaml(x.t.cfg), "back.yaml");
  ASSERT_TRUE(back.ok()) << back.errors.front().str() << "\n" << to_yaml(x.t.cfg);
  const auto& routes = back.cfg->listeners.at(0).routes;
  ASSERT_EQ(routes.size(), x.t.cfg.listeners[0].routes.size());
  for (std::size_t i = 0; i < routes.size(); ++i) {
    EXPECT_EQ(routes[i].name, x.t.cfg.listeners[0].routes[i].name);
    EXPECT_EQ(routes[i].pool, x.t.cfg.listeners[0].routes[i].pool);
    EXPECT_EQ(routes[i].host.value, x.t.cfg.listeners[0].routes[i].host.value);
    EXPECT_EQ(routes[i].path.value, x.t.cfg.listeners[0].routes[i].path.value);
  }
  ASSERT_EQ(back.cfg->pools.size(), x.t.cfg.pools.size());
  for (std::size_t i = 0; i < back.cfg->pools.size(); ++i) {
    EXPECT_EQ(back.cfg->pools[i].endpoints.size(), x.t.cfg.pools[i].endpoints.size());
    EXPECT_EQ(back.cfg->pools[i].balancer, x.t.cfg.pools[i].balancer);
  }
}

TEST(translate, ssl_redirect_for_hosts_with_a_certificate_and_force_for_all) {
  const std::string secret = "---\napiVersion: v1\nkind: Secret\nmetadata: { name: s, namespace: ns }\ntype: "
                             "kubernetes.io/tls\ndata: { tls.crt: Q0VSVA==, tls.key: S0VZMQ== }\n";
  const std::string tls_rule = "  tls: [{ hosts: [h.test], secretName: s }]\n" + rule("h.test", "/", "Prefix", "a");
  translated x(secret + ingress("i", "2025-01-01T00:00:00Z", "", tls_rule) +
               ingress("j", "2025-01-01T00:00:00Z", "nginx.ingress.kubernetes.io/force-ssl-redirect: \"true\"",
                       rule("f.test", "/", "Prefix", "a")) +
               ingress("k", "2025-01-01T00:00:00Z", "", rule("plain.test", "/", "Prefix", "a")));
  const auto& http = x.t.cfg.listeners.at(0).routes;
  const auto redirects = [&](const std::string& host) {
    for (const auto& r : http)
      if (r.host.value == host) return r.redirect_https.has_value();
    throw std::runtime_error("no route for " + host);
  };
  EXPECT_TRUE(redirects("h.test"));
  EXPECT_TRUE(redirects("f.test"));
  EXPECT_FALSE(redirects("plain.test"));
  ASSERT_EQ(x.t.cfg.listeners.size(), 2u);
  for (const auto& r : x.t.cfg.listeners[1].routes) EXPECT_FALSE(r.redirect_https) << r.name;  // https
  // No usable certificate: no redirect to a listener that cannot serve the host.
  translated none(ingress("i", "2025-01-01T00:00:00Z", "", tls_rule));
  EXPECT_FALSE(none.t.cfg.listeners.at(0).routes.at(0).redirect_https);
}

TEST(translate, source_allowlist_and_a_bad_one_refuses_the_ingress) {
  translated x(ingress("i", "2025-01-01T00:00:00Z",
                       "nginx.ingress.kubernetes.io/whitelist-source-range: \"10.0.0.0/8, 192.168.1.0/24\"",
                       rule("h.test", "/", "Prefix", "a")) +
               ingress("j", "2025-01-01T00:00:00Z",
                       "nginx.ingress.kubernetes.io/allowlist-source-range: \"10.0.0.0/8, nonsense\"",
                       rule("j.test", "/", "Prefix", "a")));
  const auto& routes = x.t.cfg.listeners.at(0).routes;
  ASSERT_EQ(routes.size(), 1u);
  EXPECT_EQ(routes[0].allow_from.size(), 2u);
  EXPECT_EQ(x.report("ns/j").level, fidelity::rejected);
  EXPECT_FALSE(x.report("ns/j").served);
  // Written back and read again: the same blocks.
  const auto back = config::load_string(to_yaml(x.t.cfg), "back.yaml");
  ASSERT_TRUE(back.ok()) << back.errors.front().str();
  EXPECT_EQ(back.cfg->listeners[0].routes[0].allow_from.size(), 2u);
  EXPECT_EQ(back.cfg->listeners[0].routes[0].allow_from[1].prefix, 24);
}

TEST(translate, no_ingress_at_all_is_a_config_that_loads_and_answers_404) {
  cluster objects;
  const auto t = translate(objects, {});
  ASSERT_EQ(t.cfg.listeners.size(), 1u);
  EXPECT_TRUE(t.cfg.listeners[0].routes.empty());
  const auto back = config::load_string(to_yaml(t.cfg), "back.yaml");
  ASSERT_TRUE(back.ok()) << back.errors.front().str() << "\n" << to_yaml(t.cfg);
  EXPECT_TRUE(back.cfg->pools.empty());
}

TEST(objects, bad_fields_name_where_they_are) {
  cluster objects;
  EXPECT_EQ(read_manifests(ingress("i", "", "", "  rules:\n    - http:\n        paths:\n          - { path: /, "
                                                   "pathType: Regex, backend: { service: { name: a, port: "
                                                   "{ number: 80 } } } }\n"),
                           "t.yaml", objects),
            "");
  ASSERT_EQ(objects.undecodable.size(), 1u);
  EXPECT_EQ(objects.undecodable[0].kind, "Ingress");
  EXPECT_EQ(objects.undecodable[0].key, "ns/i");
  EXPECT_EQ(objects.undecodable[0].error,
            "spec.rules[0].http.paths[0].pathType: 'Regex' is not Exact, Prefix or ImplementationSpecific");
  EXPECT_NE(read_manifests("a: [", "bad.yaml", objects).find("bad.yaml:"), std::string::npos);
}

TEST(objects, tls_secret_data_is_base64_decoded) {
  cluster objects;
  EXPECT_EQ(read_manifests("apiVersion: v1\nkind: Secret\nmetadata: { name: s, namespace: ns }\ntype: "
                           "kubernetes.io/tls\ndata: { tls.crt: Q0VSVA==, tls.key: S0VZMQ== }\n",
                           "s.yaml", objects),
            "");
  ASSERT_EQ(objects.secrets.count("ns/s"), 1u);
  EXPECT_EQ(objects.secrets["ns/s"].cert_pem, "CERT");
  EXPECT_EQ(objects.secrets["ns/s"].key_pem, "KEY1");
}

TEST(objects, a_null_or_numeric_name_is_undecodable_not_a_crash) {
  cluster objects;
  EXPECT_EQ(read_manifests("apiVersion: v1\nkind: Service\nmetadata: { name: }\n---\napiVersion: v1\n"
                           "kind: Service\nmetadata: { name: 7, namespace: [x] }\n",
                           "t.yaml", objects),
            "");
  EXPECT_EQ(objects.undecodable.size(), 2u);
  EXPECT_TRUE(objects.services.empty());
}

}  // namespace
}  // namespace lb::ingress
