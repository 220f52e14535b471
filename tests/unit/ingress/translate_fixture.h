#pragma once
// What the translation tests share: two Services with their EndpointSlices,
// Ingress and rule builders, and a translation with its router built so a
// test can ask where a request goes.

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lb/core/cookie.h"
#include "lb/ingress/manifest.h"
#include "lb/ingress/translate.h"
#include "lb/router/table.h"

namespace lb::ingress::test_support {

inline const std::string services = R"(
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

inline std::string ingress(const std::string& name, const std::string& created, const std::string& annotations,
                    const std::string& spec) {
  return "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: " + name +
         "\n  namespace: ns\n  creationTimestamp: \"" + created + "\"\n  annotations: {" + annotations +
         "}\nspec:\n  ingressClassName: lb\n" + spec;
}

inline std::string rule(const std::string& host, const std::string& path, const std::string& type, const std::string& svc) {
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

// The report's note about `annotation` (an ingress-nginx one), or null.
inline const note* note_on(const object_report& r, const std::string& annotation) {
  for (const auto& n : r.notes)
    if (n.subject == "nginx.ingress.kubernetes.io/" + annotation) return &n;
  return nullptr;
}

}  // namespace lb::ingress::test_support
