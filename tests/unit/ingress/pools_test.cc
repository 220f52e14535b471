#include "lb/ingress/pools.h"

#include <gtest/gtest.h>

#include "lb/ingress/manifest.h"
#include "lb/ingress/translate.h"

namespace lb::ingress {
namespace {

std::string service(const std::string& rv) {
  return "---\napiVersion: v1\nkind: Service\nmetadata: { name: a, namespace: ns" +
         (rv.empty() ? std::string() : ", resourceVersion: \"" + rv + "\"") +
         " }\nspec: { ports: [{ name: http, port: 80 }] }\n";
}

std::string slice(const std::string& rv, const std::string& addresses) {
  return "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: { name: a-1, namespace: ns" +
         (rv.empty() ? std::string() : ", resourceVersion: \"" + rv + "\"") +
         ", labels: { kubernetes.io/service-name: a } }\naddressType: IPv4\nports: [{ name: http, port: 8080, "
         "protocol: TCP }]\nendpoints:\n  - { addresses: [" +
         addresses + "] }\n";
}

const std::string ingresses =
    "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: { name: i, namespace: ns }\nspec:\n"
    "  ingressClassName: lb\n  rules:\n    - host: a.test\n      http:\n        paths:\n          - { path: /, "
    "pathType: Prefix, backend: { service: { name: a, port: { number: 80 } } } }\n";

struct run {
  translation t;
  run(const std::string& objects_yaml, endpoint_memo* memo) {
    cluster objects;
    EXPECT_EQ(read_manifests(objects_yaml + ingresses, "t.yaml", objects), "");
    t = translate(objects, {}, memo);
  }
  std::vector<std::string> endpoints() const {
    std::vector<std::string> out;
    for (const auto& p : t.cfg.pools)
      for (const auto& e : p.endpoints) out.push_back(e.addr.str());
    return out;
  }
  std::size_t notes() const {
    std::size_t n = 0;
    for (const auto& r : t.report) n += r.notes.size();
    return n;
  }
};

TEST(endpoint_memo, keeps_a_services_endpoints_while_its_objects_resource_versions_stay) {
  endpoint_memo memo;
  EXPECT_EQ(run(service("1") + slice("7", "10.0.0.1, 10.0.0.2"), &memo).endpoints(),
            (std::vector<std::string>{"10.0.0.1:8080", "10.0.0.2:8080"}));
  EXPECT_EQ(memo.size(), 1u);
  // Contents changed under the same versions: what was kept is used (proof
  // that the second translation did not read the slice).
  EXPECT_EQ(run(service("1") + slice("7", "10.0.0.3"), &memo).endpoints(),
            (std::vector<std::string>{"10.0.0.1:8080", "10.0.0.2:8080"}));
  // A new slice version, or a new Service version, is read.
  EXPECT_EQ(run(service("1") + slice("8", "10.0.0.3"), &memo).endpoints(), (std::vector<std::string>{"10.0.0.3:8080"}));
  EXPECT_EQ(run(service("2") + slice("8", "10.0.0.4"), &memo).endpoints(), (std::vector<std::string>{"10.0.0.4:8080"}));
}

TEST(endpoint_memo, objects_without_versions_are_always_read) {
  endpoint_memo memo;
  EXPECT_EQ(run(service("1") + slice("", "10.0.0.1"), &memo).endpoints(), (std::vector<std::string>{"10.0.0.1:8080"}));
  EXPECT_EQ(run(service("1") + slice("", "10.0.0.2"), &memo).endpoints(), (std::vector<std::string>{"10.0.0.2:8080"}));
  EXPECT_EQ(run(service("") + slice("3", "10.0.0.3"), &memo).endpoints(), (std::vector<std::string>{"10.0.0.3:8080"}));
  EXPECT_EQ(memo.size(), 0u);
}

TEST(endpoint_memo, notes_come_again_and_gone_services_are_forgotten) {
  endpoint_memo memo;
  const auto bad = service("1") + slice("7", "10.0.0.1, not-an-ip");
  const run first(bad, &memo);
  ASSERT_EQ(first.notes(), 1u);
  const run again(bad, &memo);
  EXPECT_EQ(again.notes(), 1u);
  ASSERT_FALSE(again.t.report.empty());
  EXPECT_EQ(again.t.report[0].notes[0].subject, first.t.report[0].notes[0].subject);
  EXPECT_EQ(again.t.report[0].notes[0].text, first.t.report[0].notes[0].text);
  EXPECT_EQ(memo.size(), 1u);
  // No Ingress names the Service any more: its entry goes.
  cluster objects;
  ASSERT_EQ(read_manifests(bad, "t.yaml", objects), "");
  translate(objects, {}, &memo);
  EXPECT_EQ(memo.size(), 0u);
}

}  // namespace
}  // namespace lb::ingress
