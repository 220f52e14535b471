#include "lb/ingress/translate.h"

#include <gtest/gtest.h>

#include "lb/config/loader.h"
#include "lb/config/parse.h"
#include "lb/ingress/config_yaml.h"
#include "lb/ingress/manifest.h"
#include "translate_fixture.h"

namespace lb::ingress {
namespace {

using test_support::ingress;
using test_support::note_on;
using test_support::rule;
using test_support::services;
using test_support::translated;

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
