#include "lb/kube/resource.h"

#include <gtest/gtest.h>

namespace lb::kube {
namespace {

using namespace std::chrono_literals;

TEST(kube_resource, known_resources_and_their_paths) {
  const auto ing = known_resource("ingresses");
  ASSERT_TRUE(ing);
  EXPECT_EQ(collection_path(*ing, ""), "/apis/networking.k8s.io/v1/ingresses");
  EXPECT_EQ(collection_path(*ing, "shop"), "/apis/networking.k8s.io/v1/namespaces/shop/ingresses");
  const auto cls = known_resource("ingressclasses");
  ASSERT_TRUE(cls);
  EXPECT_EQ(collection_path(*cls, "shop"), "/apis/networking.k8s.io/v1/ingressclasses");  // cluster-scoped
  EXPECT_EQ(collection_path(*known_resource("services"), "a"), "/api/v1/namespaces/a/services");
  EXPECT_EQ(collection_path(*known_resource("secrets"), ""), "/api/v1/secrets");
  EXPECT_EQ(collection_path(*known_resource("endpointslices"), ""), "/apis/discovery.k8s.io/v1/endpointslices");
  EXPECT_FALSE(known_resource("pods"));
}

TEST(kube_resource, list_and_watch_targets) {
  auto svc = *known_resource("services");
  EXPECT_EQ(list_target(svc, "", 500, ""), "/api/v1/services?limit=500");
  EXPECT_EQ(list_target(svc, "", 500, "a+b/="), "/api/v1/services?limit=500&continue=a%2Bb%2F%3D");
  EXPECT_EQ(watch_target(svc, "web", "123", 300s),
            "/api/v1/namespaces/web/services?watch=1&resourceVersion=123&allowWatchBookmarks=true&timeoutSeconds=300");
  svc.label_selector = "app=web,tier!=db";
  svc.field_selector = "metadata.name=x";
  EXPECT_EQ(list_target(svc, "", 10, ""),
            "/api/v1/services?limit=10&labelSelector=app%3Dweb%2Ctier%21%3Ddb&fieldSelector=metadata.name%3Dx");
}

TEST(kube_resource, the_ingress_controller_reads_tls_secrets_only) {
  std::vector<std::string> kinds;
  for (const auto& r : ingress_resources()) {
    kinds.push_back(r.kind);
    EXPECT_EQ(r.field_selector, r.kind == "Secret" ? "type=kubernetes.io/tls" : "") << r.kind;
  }
  EXPECT_EQ(kinds, (std::vector<std::string>{"Ingress", "IngressClass", "Service", "EndpointSlice", "Secret"}));
}

}  // namespace
}  // namespace lb::kube
