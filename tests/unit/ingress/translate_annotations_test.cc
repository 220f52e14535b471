// ingress-nginx annotations through translate(): regex paths, rewrites,
// canaries, affinity, timeouts, body size, per-client limits.
#include "lb/ingress/translate.h"

#include <gtest/gtest.h>

#include "lb/config/loader.h"
#include "lb/ingress/config_yaml.h"
#include "lb/ingress/manifest.h"
#include "translate_fixture.h"

namespace lb::ingress {
namespace {

using test_support::ingress;
using test_support::note_on;
using test_support::rule;
using test_support::translated;

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

}  // namespace
}  // namespace lb::ingress
