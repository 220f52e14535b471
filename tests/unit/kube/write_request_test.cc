#include "lb/kube/write_request.h"

#include <gtest/gtest.h>

namespace lb::kube {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

TEST(kube_write_request, addresses_are_ips_or_hostnames_and_normalized) {
  EXPECT_FALSE(make_address("10.0.0.1").hostname);
  EXPECT_FALSE(make_address("fd00::1").hostname);
  EXPECT_TRUE(make_address("lb.example.com").hostname);
  const auto n = normalized({make_address("lb.example"), make_address("10.0.0.2"), make_address("10.0.0.1"),
                             make_address("10.0.0.2")});
  ASSERT_EQ(n.size(), 3u);
  EXPECT_EQ(n[0].value, "10.0.0.1");
  EXPECT_EQ(n[1].value, "10.0.0.2");
  EXPECT_EQ(n[2].value, "lb.example");
}

TEST(kube_write_request, status_patch_is_a_merge_patch_of_load_balancer_ingress) {
  const auto body = status_patch({make_address("lb.example"), make_address("10.0.0.1")});
  EXPECT_EQ(body, json::parse(R"({"status":{"loadBalancer":{"ingress":[{"ip":"10.0.0.1"},{"hostname":"lb.example"}]}}})"));
  EXPECT_EQ(status_patch({}), json::parse(R"({"status":{"loadBalancer":{"ingress":[]}}})"));
  EXPECT_EQ(ingress_status_path("shop", "web"), "/apis/networking.k8s.io/v1/namespaces/shop/ingresses/web/status");
}

TEST(kube_write_request, reads_the_status_back_in_the_same_order) {
  const auto ingress = json::parse(
      R"({"status":{"loadBalancer":{"ingress":[{"hostname":"lb.example"},{"ip":"10.0.0.1"},{"ports":[]}]}}})");
  const auto got = status_addresses(ingress);
  EXPECT_EQ(got, normalized({make_address("10.0.0.1"), make_address("lb.example")}));
  EXPECT_TRUE(status_addresses(json::parse(R"({"status":{}})")).empty());
  EXPECT_TRUE(status_addresses(json::parse(R"({"status":{"loadBalancer":{"ingress":"x"}}})")).empty());
}

TEST(kube_write_request, a_service_publishes_what_ingress_nginx_would) {
  const auto values = [](const char* text) {
    std::vector<std::string> out;
    for (const auto& a : service_status_addresses(json::parse(text))) out.push_back(a.value);
    return out;
  };
  using v = std::vector<std::string>;
  EXPECT_EQ(values(R"({"spec":{"type":"LoadBalancer","clusterIP":"10.96.0.1","externalIPs":["192.0.2.1"]},
                       "status":{"loadBalancer":{"ingress":[{"hostname":"elb.example"},{"ip":"198.51.100.1"}]}}})"),
            (v{"192.0.2.1", "198.51.100.1", "elb.example"}));
  // A load balancer not provisioned yet: nothing (not the cluster IP).
  EXPECT_EQ(values(R"({"spec":{"type":"LoadBalancer","clusterIP":"10.96.0.1"}})"), v{});
  EXPECT_EQ(values(R"({"spec":{"clusterIP":"10.96.0.1"}})"), v{"10.96.0.1"});  // ClusterIP, the default
  EXPECT_EQ(values(R"({"spec":{"type":"ClusterIP","clusterIP":"None"}})"), v{});  // headless
  EXPECT_EQ(values(R"({"spec":{"type":"NodePort","clusterIP":"10.96.0.1"}})"), v{"10.96.0.1"});
  EXPECT_EQ(values(R"({"spec":{"type":"NodePort","clusterIP":"10.96.0.1","externalIPs":["192.0.2.2"]}})"),
            v{"192.0.2.2"});
  const auto named = service_status_addresses(json::parse(R"({"spec":{"type":"ExternalName","externalName":"lb.example"}})"));
  ASSERT_EQ(named.size(), 1u);
  EXPECT_TRUE(named[0].hostname);
  EXPECT_TRUE(service_status_addresses(json::parse(R"({"spec":"x"})")).empty());
  EXPECT_TRUE(service_status_addresses(json::parse("null")).empty());
}

TEST(kube_write_request, event_names_the_object_and_the_component) {
  const object_ref obj{"Ingress", "shop", "web", "uid-1", "networking.k8s.io/v1", "17"};
  const auto now = *parse_time("2024-05-01T12:00:00.750000Z");
  const auto e = event_object(obj, event_severity::warning, "Rejected", "bad path", "lb-ingress", now);
  EXPECT_EQ(e["apiVersion"], "v1");
  EXPECT_EQ(e["kind"], "Event");
  EXPECT_EQ(e["metadata"]["generateName"], "web.");
  EXPECT_EQ(e["metadata"]["namespace"], "shop");
  EXPECT_EQ(e["involvedObject"], json::parse(R"({"kind":"Ingress","namespace":"shop","name":"web","uid":"uid-1",
      "apiVersion":"networking.k8s.io/v1","resourceVersion":"17"})"));
  EXPECT_EQ(e["type"], "Warning");
  EXPECT_EQ(e["reason"], "Rejected");
  EXPECT_EQ(e["message"], "bad path");
  EXPECT_EQ(e["source"]["component"], "lb-ingress");
  EXPECT_EQ(e["firstTimestamp"], "2024-05-01T12:00:00Z");
  EXPECT_EQ(e["lastTimestamp"], "2024-05-01T12:00:00Z");
  EXPECT_EQ(e["count"], 1);
  EXPECT_EQ(event_object(obj, event_severity::normal, "r", "m", "c", now)["type"], "Normal");
}

TEST(kube_write_request, dedup_admits_once_per_window) {
  event_dedup d(10min);
  const auto t0 = event_dedup::clock::time_point{} + 1h;
  EXPECT_TRUE(d.admit("uid-1", "Rejected", "bad path", t0));
  EXPECT_FALSE(d.admit("uid-1", "Rejected", "bad path", t0 + 1s));
  EXPECT_FALSE(d.admit("uid-1", "Rejected", "bad path", t0 + 10min - 1s));
  EXPECT_TRUE(d.admit("uid-1", "Rejected", "other message", t0 + 1s));
  EXPECT_TRUE(d.admit("uid-2", "Rejected", "bad path", t0 + 1s));
  EXPECT_TRUE(d.admit("uid-1", "Rejected", "bad path", t0 + 10min));
  EXPECT_FALSE(d.admit("uid-1", "Rejected", "bad path", t0 + 11min));
  // Keys are not confused by where the separators fall.
  EXPECT_TRUE(d.admit("a", "bc", "d", t0));
  EXPECT_TRUE(d.admit("ab", "c", "d", t0));
}

TEST(kube_write_request, dedup_forgets_on_request_and_stays_bounded) {
  event_dedup d(10min, 100);
  const auto t0 = event_dedup::clock::time_point{} + 1h;
  EXPECT_TRUE(d.admit("u", "r", "m", t0));
  d.forget("u", "r", "m");
  EXPECT_TRUE(d.admit("u", "r", "m", t0 + 1s));
  for (int i = 0; i < 1000; ++i) d.admit("uid-" + std::to_string(i), "r", "m", t0 + 2s);
  EXPECT_LE(d.size(), 100u);
  // The newest are remembered, the oldest forgotten.
  EXPECT_FALSE(d.admit("uid-999", "r", "m", t0 + 3s));
  EXPECT_TRUE(d.admit("uid-0", "r", "m", t0 + 3s));
  // Everything expires after the window.
  EXPECT_TRUE(d.admit("uid-999", "r", "m", t0 + 2s + 10min));
  EXPECT_LE(d.size(), 100u);
}

}  // namespace
}  // namespace lb::kube
