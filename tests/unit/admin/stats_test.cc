#include "lb/admin/stats.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "lb/config/loader.h"
#include "lb/runtime/snapshot.h"

namespace lb::admin {
namespace {

const std::string yaml = R"(workers: 2
listeners:
  - name: web
    listen: 127.0.0.1:8080
    routes:
      - { name: api, match: { path_prefix: / }, pool: api }
metrics:
  request_duration_buckets: [0.01, 0.1, 1]
pools:
  - name: api
    endpoints: [127.0.0.1:9001, 127.0.0.1:9002]
    health_check: { type: tcp, interval: 2s }
)";

struct stats_fixture : ::testing::Test {
  upstream::live_registry reg{2};
  std::shared_ptr<const runtime::snapshot> snap;
  control_facts facts;

  void SetUp() override {
    auto loaded = config::load_string(yaml, "stats.yaml");
    ASSERT_TRUE(loaded.ok()) << loaded.errors.front().str();
    std::vector<std::string> errors;
    snap = runtime::build_snapshot(loaded.cfg, 3, reg, errors);
    ASSERT_NE(snap, nullptr);
    facts.started_unix = 1000;
    facts.workers = 2;
    facts.last_reload = {false, 1010, "SIGHUP", {"stats.yaml:3:1: bad"}};
  }
  upstream::route_live& route() { return *snap->listeners[0].route_stats[0]; }
  upstream::endpoint_live& endpoint(std::size_t e) { return *snap->pools[0].live[e]; }
};

TEST(quantile, interpolates_within_the_bucket_like_prometheus) {
  const auto b = metrics::bucket_bounds::of({0.1, 0.2, 0.4});
  bucket_totals h;
  h.bounds = &b;
  EXPECT_LT(quantile(h, 0.5), 0);  // empty
  h.counts = {10, 10, 0, 0};       // 10 in (0, 0.1], 10 in (0.1, 0.2]
  EXPECT_DOUBLE_EQ(quantile(h, 0.5), 0.1);
  EXPECT_DOUBLE_EQ(quantile(h, 0.75), 0.15);
  h.counts = {0, 0, 0, 5};  // all above the last bound
  EXPECT_DOUBLE_EQ(quantile(h, 0.99), 0.4);
}

TEST_F(stats_fixture, rates_come_from_differences_between_samples) {
  stats_history s;
  s.sample(*snap, 100);
  auto j = s.render(*snap, facts, 100);
  EXPECT_TRUE(j["routes"][0]["request_rate"].is_null()) << "one sample: no rate yet";

  for (int i = 0; i < 20; ++i) route().stats[i % 2].responses.add(200);
  for (int i = 0; i < 5; ++i) route().stats[1].responses.add(503);
  for (int i = 0; i < 10; ++i) endpoint(0).stats[0].responses.add(200);
  endpoint(0).stats[1].responses.add(0);  // no response: an error
  route().stats[0].duration.observe(0.05);
  route().stats[1].duration.observe(0.05);
  s.sample(*snap, 102);
  j = s.render(*snap, facts, 102);

  const auto& r = j["routes"][0];
  EXPECT_EQ(r["name"], "api");
  EXPECT_EQ(r["requests_total"], 25);
  EXPECT_DOUBLE_EQ(r["request_rate"].get<double>(), 12.5);
  EXPECT_DOUBLE_EQ(r["error_ratio"].get<double>(), 0.2);
  EXPECT_DOUBLE_EQ(r["p50_seconds"].get<double>(), 0.055);  // both in (0.01, 0.1]
  EXPECT_DOUBLE_EQ(j["listeners"][0]["request_rate"].get<double>(), 12.5);

  const auto& e0 = j["pools"][0]["endpoints"][0];
  EXPECT_DOUBLE_EQ(e0["request_rate"].get<double>(), 5.5);
  EXPECT_DOUBLE_EQ(e0["error_rate"].get<double>(), 0.5);
  EXPECT_EQ(e0["history"]["requests"], nlohmann::ordered_json::array({5.5}));
  EXPECT_EQ(e0["history"]["errors"], nlohmann::ordered_json::array({0.5}));
  EXPECT_DOUBLE_EQ(j["pools"][0]["endpoints"][1]["request_rate"].get<double>(), 0);
}

TEST_F(stats_fixture, history_keeps_the_newest_samples_only) {
  stats_history s;
  for (int i = 0; i < 40; ++i) {
    endpoint(0).stats[0].responses.add(200);
    s.sample(*snap, 100 + 2 * i);
  }
  const auto j = s.render(*snap, facts, 180);
  const auto& h = j["pools"][0]["endpoints"][0]["history"]["requests"];
  EXPECT_EQ(h.size(), stats_history::depth - 1);
  for (const auto& x : h) EXPECT_DOUBLE_EQ(x.get<double>(), 0.5);
}

TEST_F(stats_fixture, live_state_and_facts) {
  endpoint(1).healthy.store(false);
  endpoint(1).last_check = {true, false, "connect refused", 1'700'000'000'000};
  stats_history s;
  s.sample(*snap, 1020);
  const auto j = s.render(*snap, facts, 1020);
  EXPECT_EQ(j["config"]["version"], 3);
  EXPECT_EQ(j["workers"], 2);
  EXPECT_DOUBLE_EQ(j["uptime_seconds"].get<double>(), 20);
  EXPECT_EQ(j["reloads"]["last"]["result"], "failure");
  EXPECT_EQ(j["reloads"]["last"]["trigger"], "SIGHUP");
  EXPECT_EQ(j["reloads"]["last"]["errors"][0], "stats.yaml:3:1: bad");
  const auto& p = j["pools"][0];
  EXPECT_EQ(p["endpoints_total"], 2);
  EXPECT_EQ(p["endpoints_usable"], 1);
  EXPECT_EQ(p["health_check"]["interval"], "2s");
  const auto& e1 = p["endpoints"][1];
  EXPECT_EQ(e1["healthy"], false);
  EXPECT_EQ(e1["usable"], false);
  EXPECT_EQ(e1["effective_weight"], 0.0);
  EXPECT_EQ(e1["check"]["result"], "fail");
  EXPECT_EQ(e1["check"]["reason"], "connect refused");
  EXPECT_TRUE(p["endpoints"][0]["check"].is_null());
}

TEST_F(stats_fixture, reload_with_new_buckets_starts_the_route_afresh) {
  route().stats[0].responses.add(200);
  auto loaded = config::load_string(
      std::string(yaml).replace(yaml.find("[0.01, 0.1, 1]"), 14, "[0.02, 0.2]"), "stats.yaml");
  ASSERT_TRUE(loaded.ok());
  std::vector<std::string> errors;
  auto next = runtime::build_snapshot(loaded.cfg, 4, reg, errors);
  ASSERT_NE(next, nullptr);
  const auto& r = *next->listeners[0].route_stats[0];
  EXPECT_NE(&r, &route());
  EXPECT_EQ(r.buckets->n, 2u);
  EXPECT_EQ(r.stats[0].duration.bounds().v[1], 0.2);
  EXPECT_EQ(r.stats[0].responses.get(200), 0u);
  // Same buckets: the same counters carry on.
  auto again = runtime::build_snapshot(loaded.cfg, 5, reg, errors);
  EXPECT_EQ(again->listeners[0].route_stats[0].get(), &r);
}

}  // namespace
}  // namespace lb::admin
