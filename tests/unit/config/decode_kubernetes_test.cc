// The `kubernetes:` section as the loader reads it: optional listeners and
// pools, the --kubernetes flag, status and leader election.
#include "lb/config/loader.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "load_helpers.h"

namespace lb::config {
namespace {

using namespace std::chrono_literals;
using test_support::errors_of;

TEST(loader, kubernetes_section_makes_listeners_and_pools_optional) {
  const auto r = load_string(R"(kubernetes:
  kubeconfig: kube/config
  namespace: shop
  ingress_class: nginx
  take_unclassed: true
  http: 127.0.0.1:8080
  tls_dir: tls
)", "/etc/lb/lb.yaml");
  ASSERT_TRUE(r.ok()) << r.errors.front().str();
  ASSERT_TRUE(r.cfg->kubernetes);
  const auto& k = *r.cfg->kubernetes;
  EXPECT_EQ(k.kubeconfig, "/etc/lb/kube/config");  // from the config file's folder
  EXPECT_EQ(k.tls_dir, "/etc/lb/tls");
  EXPECT_EQ(k.namespace_, "shop");
  EXPECT_EQ(k.ingress_class, "nginx");
  EXPECT_EQ(k.controller, "lb.dev/ingress");
  EXPECT_TRUE(k.take_unclassed);
  EXPECT_EQ(k.http.str(), "127.0.0.1:8080");
  EXPECT_EQ(k.https.str(), "0.0.0.0:443");
  EXPECT_TRUE(r.cfg->listeners.empty());
  EXPECT_TRUE(load_string("kubernetes: {}\n", "t.yaml").ok());
  EXPECT_FALSE(load_string("workers: 2\n", "t.yaml").ok());  // without it, listeners are required
  EXPECT_EQ(errors_of("kubernetes: { http: example.com:80, take_unclassed: yes, colour: blue }\n"),
            (std::vector<std::string>{
                "t.yaml:1:21: invalid 'http': must be an IP address (lb does not resolve names to listen on), got "
                "\"example.com:80\"",
                "t.yaml:1:53: invalid 'take_unclassed': expected true or false, got \"yes\"",
                "t.yaml:1:58: unknown key 'colour' in kubernetes (expected one of: kubeconfig, namespace, "
                "ingress_class, controller, take_unclassed, http, https, passthrough_listen, tls_dir, "
                "annotations_prefix, status, leader_election, events)"}));
}

TEST(loader, kubernetes_flag_supplies_the_section) {
  const auto r = load_string("admin: { listen: 127.0.0.1:9901 }\n", "t.yaml", {.kubernetes = true});
  ASSERT_TRUE(r.ok()) << r.errors.front().str();
  ASSERT_TRUE(r.cfg->kubernetes);
  EXPECT_EQ(r.cfg->kubernetes->kubeconfig, "");  // in-cluster
  EXPECT_EQ(r.cfg->kubernetes->ingress_class, "lb");
  EXPECT_EQ(r.cfg->kubernetes->pos.file, "t.yaml");
  EXPECT_EQ(r.cfg->kubernetes->pos.line, 1);
  const auto own = load_string("kubernetes: { ingress_class: nginx }\n", "t.yaml", {.kubernetes = true});
  ASSERT_TRUE(own.ok());
  EXPECT_EQ(own.cfg->kubernetes->ingress_class, "nginx");
  EXPECT_FALSE(load_string("admin: { listen: 127.0.0.1:9901 }\n", "t.yaml").ok());
}

TEST(loader, kubernetes_status_and_leader_election) {
  const auto r = load_string(R"(kubernetes:
  status: { publish_service: lb-system/lb }
  leader_election: { lease: lb-leader, identity: pod-a, lease_duration: 20s, renew_deadline: 15s, retry_period: 3s }
  events: false
)", "t.yaml");
  ASSERT_TRUE(r.ok()) << r.errors.front().str();
  const auto& k = *r.cfg->kubernetes;
  EXPECT_EQ(k.status.publish_namespace, "lb-system");
  EXPECT_EQ(k.status.publish_name, "lb");
  EXPECT_TRUE(k.status.enabled());
  EXPECT_EQ(k.leader_election.lease_namespace, "");  // lb's own, found at run time
  EXPECT_EQ(k.leader_election.lease_name, "lb-leader");
  EXPECT_EQ(k.leader_election.identity, "pod-a");
  EXPECT_EQ(k.leader_election.lease_duration, std::chrono::seconds(20));
  EXPECT_EQ(k.leader_election.renew_deadline, std::chrono::seconds(15));
  EXPECT_EQ(k.leader_election.retry_period, std::chrono::seconds(3));
  EXPECT_FALSE(k.events);

  const auto fixed = load_string("kubernetes: { status: { addresses: [203.0.113.7, lb.example.com] } }\n", "t.yaml");
  ASSERT_TRUE(fixed.ok());
  EXPECT_EQ(fixed.cfg->kubernetes->status.addresses, (std::vector<std::string>{"203.0.113.7", "lb.example.com"}));
  const auto plain = load_string("kubernetes: {}\n", "t.yaml");
  EXPECT_FALSE(plain.cfg->kubernetes->status.enabled());  // no status written unless asked
  EXPECT_TRUE(plain.cfg->kubernetes->leader_election.lease_name.empty());
  EXPECT_TRUE(plain.cfg->kubernetes->events);

  EXPECT_EQ(errors_of("kubernetes:\n  status: { publish_service: Lb/x_y, addresses: [a b] }\n"),
            (std::vector<std::string>{
                "t.yaml:2:11: invalid 'status': give 'addresses' or 'publish_service', not both",
                "t.yaml:2:30: invalid 'publish_service': expected NAME or NAMESPACE/NAME (lowercase RFC 1123 "
                "names), got \"Lb/x_y\"",
                "t.yaml:2:50: invalid status address: expected an IP or a host name, got \"a b\""}));
  EXPECT_EQ(errors_of("kubernetes:\n  leader_election: { identity: a }\n"),
            (std::vector<std::string>{"t.yaml:2:20: missing required key 'lease' in leader_election"}));
  EXPECT_EQ(errors_of("kubernetes:\n  leader_election: { lease: l, renew_deadline: 15s }\n"),
            (std::vector<std::string>{
                "t.yaml:2:20: invalid 'leader_election': renew_deadline must be shorter than lease_duration"}));
  EXPECT_EQ(errors_of("kubernetes:\n  leader_election: { lease: l, lease_duration: 1500ms }\n"),
            (std::vector<std::string>{"t.yaml:2:20: invalid 'lease_duration': a Lease holds whole seconds"}));
}

}  // namespace
}  // namespace lb::config
