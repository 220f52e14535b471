#include "lb/admin/views.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "lb/config/loader.h"
#include "lb/runtime/snapshot.h"
#include "lb/upstream/live.h"

namespace lb::admin {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using json = nlohmann::json;

const std::string yaml = R"(workers: 2
drain_timeout: 45s
admin:
  listen: 127.0.0.1:9901
access_log:
  path: off
listeners:
  - name: web
    listen: 127.0.0.1:8080
    limits:
      header_timeout: 250ms
    routes:
      - name: api
        match:
          host: "*.example.com"
          path_prefix: /v1/
          headers: { x-canary: "1" }
          cookies: { Beta: always }
        pool: api
        timeout: 5s
        send_timeout: 2s
        retries: { attempts: 1, on: [connect-failure, 503] }
        set_headers: { x-lb: "1" }
      - match: { path_prefix: / }
        pool: web
pools:
  - name: api
    balancer: ring_hash
    hash_key: header:X-User
    endpoints:
      - { address: 127.0.0.1:9001, weight: 1 }
      - { address: 127.0.0.1:9002, weight: 3 }
    health_check:
      path: /healthz
      interval: 2s
      timeout: 1s
      expect_status: 200-299
    outlier: { consecutive_failures: 3, base_ejection: 30s, max_ejected_percent: 50 }
  - name: web
    endpoints: ["[::1]:9003"]
    affinity: {cookie: SRV, max_age: 1h}
)";

struct fixture : ::testing::Test {
  upstream::live_registry reg{2};
  std::shared_ptr<const runtime::snapshot> snap;

  void SetUp() override {
    auto loaded = config::load_string(yaml, "views.yaml");
    ASSERT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors.front().str());
    std::vector<std::string> errors;
    snap = runtime::build_snapshot(loaded.cfg, 7, reg, errors);
    ASSERT_NE(snap, nullptr) << (errors.empty() ? "" : errors.front());
    ASSERT_EQ(snap->listeners.size(), 1u);
    ASSERT_EQ(snap->pools.size(), 2u);
  }

  upstream::listener_live& web() { return *snap->listeners[0].live; }
  upstream::route_live& route(std::size_t i) { return *snap->listeners[0].route_stats[i]; }
  upstream::pool_live& pool(std::size_t i) { return *snap->pools[i].stats; }
  upstream::endpoint_live& endpoint(std::size_t p, std::size_t e) { return *snap->pools[p].live[e]; }

  std::string metrics(control_facts facts = {}) { return render_metrics(*snap, facts, "1.2.3-test"); }
};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

::testing::AssertionResult has_line(const std::string& text, const std::string& line) {
  for (const auto& l : lines_of(text)) {
    if (l == line) return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "no line\n  " << line << "\nin\n" << text;
}

TEST_F(fixture, http_requests_sum_workers_and_include_unrouted) {
  route(0).stats[0].responses.add(200);
  route(0).stats[0].responses.add(200);
  route(0).stats[1].responses.add(200);
  route(0).stats[1].responses.add(503);
  route(0).stats[1].responses.add(42);  // lands in slot 0: never a code="0" sample for routes
  route(1).stats[1].responses.add(404);
  web().stats[0].unrouted.add(400);
  web().stats[1].unrouted.add(400);
  web().stats[1].unrouted.add(431);
  route(0).stats[1].responses_h2.add(200);
  web().stats[0].unrouted_h2.add(404);

  const auto m = metrics();
  EXPECT_TRUE(has_line(m, R"(lb_http_requests_total{code="200",listener="web",protocol="h2",route="api"} 1)"));
  EXPECT_TRUE(has_line(m, R"(lb_http_requests_total{code="404",listener="web",protocol="h2",route=""} 1)"));
  EXPECT_TRUE(has_line(m, R"(lb_http_requests_total{code="200",listener="web",protocol="http/1.1",route="api"} 3)"));
  EXPECT_TRUE(has_line(m, R"(lb_http_requests_total{code="503",listener="web",protocol="http/1.1",route="api"} 1)"));
  EXPECT_TRUE(has_line(m, R"(lb_http_requests_total{code="404",listener="web",protocol="http/1.1",route="route1"} 1)"));
  EXPECT_TRUE(has_line(m, R"(lb_http_requests_total{code="400",listener="web",protocol="http/1.1",route=""} 2)"));
  EXPECT_TRUE(has_line(m, R"(lb_http_requests_total{code="431",listener="web",protocol="http/1.1",route=""} 1)"));
  EXPECT_THAT(m, Not(HasSubstr(R"(lb_http_requests_total{code="0")")));
  EXPECT_TRUE(has_line(m, "# TYPE lb_http_requests_total counter"));
}

TEST_F(fixture, downstream_connections_sum_workers) {
  web().stats[0].active.add(2);
  web().stats[1].active.add(3);
  web().stats[1].active.add(-1);
  web().stats[0].total.add(10);
  web().stats[1].total.add(5);
  const auto m = metrics();
  EXPECT_TRUE(has_line(m, R"(lb_downstream_connections_active{listener="web"} 4)"));
  EXPECT_TRUE(has_line(m, R"(lb_downstream_connections_total{listener="web"} 15)"));
}

TEST_F(fixture, request_duration_histogram_is_cumulative) {
  route(0).stats[0].duration.observe(0.0003);  // le 0.0005
  route(0).stats[1].duration.observe(0.003);   // le 0.005
  route(0).stats[1].duration.observe(0.003);
  route(0).stats[0].duration.observe(20);      // +Inf only
  const auto m = metrics();
  const std::string p = R"(lb_http_request_duration_seconds_bucket{listener="web",route="api",le=")";
  EXPECT_TRUE(has_line(m, p + R"(0.0005"} 1)"));
  EXPECT_TRUE(has_line(m, p + R"(0.001"} 1)"));
  EXPECT_TRUE(has_line(m, p + R"(0.0025"} 1)"));
  EXPECT_TRUE(has_line(m, p + R"(0.005"} 3)"));
  EXPECT_TRUE(has_line(m, p + R"(10"} 3)"));
  EXPECT_TRUE(has_line(m, p + R"(+Inf"} 4)"));
  EXPECT_TRUE(has_line(m, R"(lb_http_request_duration_seconds_count{listener="web",route="api"} 4)"));
  EXPECT_TRUE(has_line(m, R"(lb_http_request_duration_seconds_sum{listener="web",route="api"} 20.0063)"));
  // An idle route still has its (empty) histogram.
  EXPECT_TRUE(has_line(m, R"(lb_http_request_duration_seconds_count{listener="web",route="route1"} 0)"));
  EXPECT_TRUE(has_line(m, "# TYPE lb_http_request_duration_seconds histogram"));
}

TEST_F(fixture, upstream_metrics) {
  endpoint(0, 0).stats[0].responses.add(200);
  endpoint(0, 0).stats[1].responses.add(200);
  endpoint(0, 0).stats[1].responses.add(0);  // no response
  endpoint(0, 1).stats[0].responses.add(502);
  endpoint(0, 1).stats[0].connect_failures.add();
  endpoint(0, 1).stats[1].connect_failures.add(2);
  endpoint(0, 0).connections.store(5);
  pool(0).stats[0].retries.add(2);
  pool(0).stats[1].retries.add(1);
  pool(0).stats[1].response_duration.observe(0.02);

  const auto m = metrics();
  EXPECT_TRUE(has_line(m, R"(lb_upstream_requests_total{code="200",endpoint="127.0.0.1:9001",pool="api"} 2)"));
  EXPECT_TRUE(has_line(m, R"(lb_upstream_requests_total{code="0",endpoint="127.0.0.1:9001",pool="api"} 1)"));
  EXPECT_TRUE(has_line(m, R"(lb_upstream_requests_total{code="502",endpoint="127.0.0.1:9002",pool="api"} 1)"));
  EXPECT_TRUE(has_line(m, R"(lb_upstream_connect_failures_total{endpoint="127.0.0.1:9002",pool="api"} 3)"));
  EXPECT_TRUE(has_line(m, R"(lb_upstream_connect_failures_total{endpoint="127.0.0.1:9001",pool="api"} 0)"));
  EXPECT_TRUE(has_line(m, R"(lb_upstream_connections_active{endpoint="127.0.0.1:9001",pool="api"} 5)"));
  EXPECT_TRUE(has_line(m, R"(lb_upstream_connections_active{endpoint="[::1]:9003",pool="web"} 0)"));
  EXPECT_TRUE(has_line(m, R"(lb_upstream_retries_total{pool="api"} 3)"));
  EXPECT_TRUE(has_line(m, R"(lb_upstream_retries_total{pool="web"} 0)"));
  EXPECT_TRUE(has_line(m, R"(lb_upstream_response_duration_seconds_bucket{pool="api",le="0.01"} 0)"));
  EXPECT_TRUE(has_line(m, R"(lb_upstream_response_duration_seconds_bucket{pool="api",le="0.025"} 1)"));
  EXPECT_TRUE(has_line(m, R"(lb_upstream_response_duration_seconds_bucket{pool="api",le="+Inf"} 1)"));
  EXPECT_TRUE(has_line(m, R"(lb_upstream_response_duration_seconds_count{pool="web"} 0)"));
  EXPECT_THAT(m, HasSubstr(R"(code="0" means no response)"));  // in HELP (quotes are not escaped there)
}

TEST_F(fixture, endpoint_healthy_gauge_follows_health_and_ejection) {
  const std::string e1 = R"(lb_upstream_endpoint_healthy{endpoint="127.0.0.1:9001",pool="api"} )";
  const std::string e2 = R"(lb_upstream_endpoint_healthy{endpoint="127.0.0.1:9002",pool="api"} )";
  EXPECT_TRUE(has_line(metrics(), e1 + "1"));
  EXPECT_TRUE(has_line(metrics(), e2 + "1"));

  endpoint(0, 0).healthy.store(false);
  endpoint(0, 1).ejected_until.store(upstream::ticks(upstream::clock::now() + std::chrono::seconds(30)));
  auto m = metrics();
  EXPECT_TRUE(has_line(m, e1 + "0"));
  EXPECT_TRUE(has_line(m, e2 + "0"));

  endpoint(0, 0).healthy.store(true);
  endpoint(0, 1).ejected_until.store(upstream::ticks(upstream::clock::now() - std::chrono::seconds(1)));
  m = metrics();
  EXPECT_TRUE(has_line(m, e1 + "1"));
  EXPECT_TRUE(has_line(m, e2 + "1"));
}

TEST_F(fixture, build_info_and_reloads) {
  control_facts facts;
  facts.reloads_success = 3;
  facts.reloads_failure = 1;
  facts.last_reload_success_unix = 1714564800.5;
  const auto m = metrics(facts);
  EXPECT_TRUE(has_line(m, R"(lb_build_info{version="1.2.3-test"} 1)"));
  EXPECT_TRUE(has_line(m, R"(lb_config_reloads_total{result="success"} 3)"));
  EXPECT_TRUE(has_line(m, R"(lb_config_reloads_total{result="failure"} 1)"));
  EXPECT_TRUE(has_line(m, "lb_config_last_reload_success_timestamp_seconds 1714564800.5"));
}

TEST_F(fixture, every_family_has_help_and_type) {
  endpoint(0, 0).stats[0].responses.add(200);
  route(0).stats[0].responses.add(200);
  const auto m = metrics();
  for (const char* name :
       {"lb_build_info", "lb_downstream_connections_active", "lb_downstream_connections_total",
        "lb_http_requests_total", "lb_http_request_duration_seconds", "lb_upstream_requests_total",
        "lb_upstream_response_duration_seconds", "lb_upstream_connections_active",
        "lb_upstream_connect_failures_total", "lb_upstream_endpoint_healthy", "lb_upstream_retries_total",
        "lb_config_reloads_total", "lb_config_last_reload_success_timestamp_seconds"}) {
    EXPECT_THAT(m, HasSubstr(std::string("# HELP ") + name + " ")) << name;
    EXPECT_THAT(m, HasSubstr(std::string("# TYPE ") + name + " ")) << name;
  }
}

TEST_F(fixture, families_without_samples_are_left_out) {
  const auto m = metrics();  // nothing counted yet
  EXPECT_THAT(m, Not(HasSubstr("lb_http_requests_total")));
  EXPECT_THAT(m, Not(HasSubstr("lb_upstream_requests_total")));
}

// promtool is Debian's `prometheus` package (TEST_DEPS); without it the check is skipped, visibly.
std::string find_promtool() {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const auto p = std::filesystem::path(dir) / "promtool";
    if (!dir.empty() && ::access(p.c_str(), X_OK) == 0) return p.string();
  }
  return "";
}

std::string run_promtool(const std::string& promtool, const std::string& text, int& status) {
  const auto file = std::filesystem::temp_directory_path() /
                    ("lb_views_test_" + std::to_string(::getpid()) + ".prom");
  std::ofstream(file) << text;
  const std::string cmd = "'" + promtool + "' check metrics < '" + file.string() + "' 2>&1";
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) {
    status = -1;
    return "popen failed";
  }
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  status = ::pclose(p);
  std::filesystem::remove(file);
  return out;
}

TEST_F(fixture, output_passes_promtool_check_metrics) {
  const auto promtool = find_promtool();
  if (promtool.empty()) {
    GTEST_SKIP() << "promtool not found in PATH (apt-get install prometheus): `promtool check metrics` not run";
  }
  // Every family populated, including code="0" and route="".
  route(0).stats[0].responses.add(200);
  route(0).stats[0].duration.observe(0.01);
  web().stats[1].unrouted.add(404);
  web().stats[0].active.add(1);
  web().stats[0].total.add(1);
  endpoint(0, 0).stats[0].responses.add(200);
  endpoint(0, 0).stats[1].responses.add(0);
  endpoint(0, 1).stats[1].connect_failures.add();
  endpoint(0, 1).healthy.store(false);
  pool(0).stats[1].response_duration.observe(0.2);
  pool(0).stats[1].retries.add();
  control_facts facts;
  facts.reloads_success = 1;
  facts.last_reload_success_unix = 1714564800.0;

  int status = 0;
  const auto out = run_promtool(promtool, metrics(facts), status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_EQ(out, "") << "promtool complained:\n" << out;

  // The check is not vacuous: promtool does fail a bad exposition.
  const auto bad = run_promtool(promtool, "# HELP foo x\n# TYPE foo counter\nfoo 1\n", status);
  EXPECT_NE(status, 0) << bad;
  EXPECT_THAT(bad, HasSubstr("_total"));
}

TEST_F(fixture, config_json_has_every_field) {
  const auto j = json::parse(render_config(*snap));
  EXPECT_EQ(j["version"], 7);
  const std::string loaded_at = j["loaded_at"];
  EXPECT_EQ(loaded_at, rfc3339_utc(snap->loaded_at_unix_ms));
  EXPECT_EQ(j["source"], "views.yaml");
  EXPECT_EQ(j["workers"], 2);
  EXPECT_EQ(j["drain_timeout"], "45s");
  EXPECT_EQ(j["admin"]["listen"], "127.0.0.1:9901");
  EXPECT_EQ(j["access_log"]["path"], "off");
  EXPECT_EQ(j["access_log"]["format"], "json");

  const auto& l = j["listeners"].at(0);
  EXPECT_EQ(l["name"], "web");
  EXPECT_EQ(l["listen"], "127.0.0.1:8080");
  EXPECT_EQ(l["protocol"], "http");
  EXPECT_EQ(l["limits"]["header_timeout"], "250ms");
  EXPECT_EQ(l["limits"]["idle_timeout"], "1m");
  EXPECT_EQ(l["limits"]["max_connections"], 100000);
  EXPECT_EQ(l["limits"]["max_header_bytes"], 16384);
  EXPECT_EQ(l["limits"]["max_body_bytes"], 0);
  const auto& api = l["routes"].at(0);
  EXPECT_EQ(api["name"], "api");
  EXPECT_EQ(api["match"]["host"], "*.example.com");
  EXPECT_EQ(api["match"]["path_prefix"], "/v1/");
  EXPECT_EQ(api["match"]["headers"], json({{"x-canary", "1"}}));
  EXPECT_EQ(api["match"]["cookies"], json({{"Beta", "always"}}));
  EXPECT_EQ(api["pool"], "api");
  EXPECT_EQ(api["timeout"], "5s");
  EXPECT_EQ(api["send_timeout"], "2s");
  EXPECT_EQ(api["retries"]["attempts"], 1);
  EXPECT_EQ(api["retries"]["on"], json::parse(R"(["connect-failure", 503])"));
  EXPECT_EQ(api["retries"]["budget_percent"], 20);
  EXPECT_EQ(api["set_headers"], json({{"x-lb", "1"}}));
  const auto& dflt = l["routes"].at(1);
  EXPECT_EQ(dflt["name"], "route1");
  EXPECT_FALSE(dflt["match"].contains("host"));
  EXPECT_EQ(dflt["timeout"], "30s");
  EXPECT_EQ(dflt["send_timeout"], "30s") << "the route's timeout";

  const auto& pa = j["pools"].at(0);
  EXPECT_EQ(pa["name"], "api");
  EXPECT_EQ(pa["balancer"], "ring_hash");
  EXPECT_EQ(pa["hash_key"], "header:x-user");
  EXPECT_EQ(pa["endpoints"], json::parse(R"([{"address":"127.0.0.1:9001","weight":1},
                                             {"address":"127.0.0.1:9002","weight":3}])"));
  EXPECT_EQ(pa["connect_timeout"], "2s");
  EXPECT_EQ(pa["dns_refresh"], "30s");
  EXPECT_EQ(pa["keepalive"], json::parse(R"({"max_idle":64,"idle_timeout":"1m"})"));
  EXPECT_EQ(pa["max_connections_per_endpoint"], 0);
  EXPECT_EQ(pa["health_check"]["type"], "http");
  EXPECT_EQ(pa["health_check"]["path"], "/healthz");
  EXPECT_EQ(pa["health_check"]["host"], nullptr);
  EXPECT_EQ(pa["health_check"]["expect_status"], "200-299");
  EXPECT_EQ(pa["health_check"]["interval"], "2s");
  EXPECT_EQ(pa["health_check"]["timeout"], "1s");
  EXPECT_EQ(pa["health_check"]["healthy_threshold"], 2);
  EXPECT_EQ(pa["health_check"]["unhealthy_threshold"], 3);
  EXPECT_EQ(pa["outlier"],
            json::parse(R"({"consecutive_failures":3,"base_ejection":"30s","max_ejected_percent":50})"));
  EXPECT_EQ(pa["slow_start"], "0s");
  EXPECT_EQ(pa["affinity"], nullptr);

  const auto& pw = j["pools"].at(1);
  EXPECT_EQ(pw["balancer"], "round_robin");
  EXPECT_EQ(pw["hash_key"], nullptr);
  EXPECT_EQ(pw["endpoints"].at(0)["address"], "[::1]:9003");
  EXPECT_EQ(pw["health_check"], nullptr);
  EXPECT_EQ(pw["outlier"], nullptr);
  EXPECT_EQ(pw["affinity"], json::parse(R"({"cookie":"SRV","path":"/","domain":null,"max_age":"1h","secure":false,
                                            "http_only":true,"same_site":null})"));
}

TEST_F(fixture, pools_json_reports_live_state) {
  auto& e0 = endpoint(0, 0);
  e0.stats[0].responses.add(200);
  e0.stats[1].responses.add(200);
  e0.stats[1].responses.add(0);
  e0.stats[0].connect_failures.add();
  e0.in_flight.store(4);
  e0.connections.store(6);
  e0.consecutive_failures.store(2);
  auto& e1 = endpoint(0, 1);
  e1.healthy.store(false);
  e1.ejections.store(1);
  e1.ejected_until.store(upstream::ticks(upstream::clock::now() + std::chrono::seconds(30)));

  const auto j = json::parse(render_pools(*snap));
  EXPECT_EQ(j["version"], 7);
  ASSERT_EQ(j["pools"].size(), 2u);
  const auto& api = j["pools"][0];
  EXPECT_EQ(api["name"], "api");
  EXPECT_EQ(api["balancer"], "ring_hash");
  ASSERT_EQ(api["endpoints"].size(), 2u);

  const auto& a = api["endpoints"][0];
  EXPECT_EQ(a["address"], "127.0.0.1:9001");
  EXPECT_EQ(a["resolved"], "127.0.0.1:9001");
  EXPECT_EQ(a["weight"], 1);
  EXPECT_EQ(a["healthy"], true);
  EXPECT_EQ(a["ejected"], false);
  EXPECT_EQ(a["ejected_until"], 0);
  EXPECT_EQ(a["ejections"], 0);
  EXPECT_EQ(a["consecutive_failures"], 2);
  EXPECT_EQ(a["in_flight"], 4);
  EXPECT_EQ(a["connections"], 6);
  EXPECT_EQ(a["connect_failures"], 1);
  EXPECT_EQ(a["requests"], json::parse(R"({"0":1,"200":2})"));

  const auto& b = api["endpoints"][1];
  EXPECT_EQ(b["weight"], 3);
  EXPECT_EQ(b["healthy"], false);
  EXPECT_EQ(b["ejected"], true);
  const double until = b["ejected_until"];
  EXPECT_GT(until, 29.0);
  EXPECT_LE(until, 30.0);
  EXPECT_EQ(b["ejections"], 1);
  EXPECT_EQ(b["requests"], json::object());

  const auto& web = j["pools"][1];
  EXPECT_EQ(web["balancer"], "round_robin");
  EXPECT_EQ(web["endpoints"][0]["address"], "[::1]:9003");
  EXPECT_EQ(web["endpoints"][0]["resolved"], "[::1]:9003");
}

TEST(pools_json, effective_weight_follows_slow_start_and_eligibility) {
  const std::string cfg = R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    routes:
      - match: { path_prefix: / }
        pool: p
pools:
  - name: p
    slow_start: 100s
    endpoints:
      - { address: 127.0.0.1:9001, weight: 4 }
      - { address: 127.0.0.1:9002, weight: 4 }
      - { address: 127.0.0.1:9003, weight: 4 }
)";
  auto loaded = config::load_string(cfg, "slow.yaml");
  ASSERT_TRUE(loaded.ok());
  upstream::live_registry reg{1};
  std::vector<std::string> errors;
  auto snap = runtime::build_snapshot(loaded.cfg, 1, reg, errors);
  ASSERT_NE(snap, nullptr);
  const auto now = upstream::ticks(upstream::clock::now());
  const auto secs = [](int s) { return std::chrono::duration_cast<upstream::clock::duration>(std::chrono::seconds(s)).count(); };
  auto& live = snap->pools[0].live;
  live[0]->ready_since.store(now - secs(1000));  // ramped fully
  live[1]->ready_since.store(now - secs(50));    // half way through 100s
  live[2]->ready_since.store(now - secs(1000));
  live[2]->ejected_until.store(now + secs(60));  // not eligible
  const auto j = json::parse(render_pools(*snap));
  const auto& eps = j["pools"][0]["endpoints"];
  EXPECT_DOUBLE_EQ(eps[0]["effective_weight"].get<double>(), 4.0);
  EXPECT_NEAR(eps[1]["effective_weight"].get<double>(), 2.0, 0.05);
  EXPECT_DOUBLE_EQ(eps[2]["effective_weight"].get<double>(), 0.0);
  EXPECT_EQ(eps[1]["weight"], 4);
}

TEST(rfc3339_utc, formats_milliseconds_in_utc) {
  EXPECT_EQ(rfc3339_utc(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(rfc3339_utc(1714564800123), "2024-05-01T12:00:00.123Z");
  EXPECT_EQ(rfc3339_utc(-1), "1969-12-31T23:59:59.999Z");
}

}  // namespace
}  // namespace lb::admin
