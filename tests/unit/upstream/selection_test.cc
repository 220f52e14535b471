#include "lb/upstream/selection.h"

#include <gtest/gtest.h>

#include "lb/config/loader.h"
#include "lb/runtime/snapshot.h"

namespace lb::upstream {
namespace {

using std::chrono::seconds;

struct pool_fixture : ::testing::Test {
  live_registry reg{1};
  std::shared_ptr<const runtime::snapshot> snap;
  std::unique_ptr<worker_pool> wp;

  void load(const std::string& pool_extra) {
    const std::string yaml = R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    routes:
      - match: { path_prefix: / }
        pool: p
pools:
  - name: p
    endpoints: [ 127.0.0.1:9001, 127.0.0.1:9002, 127.0.0.1:9003, 127.0.0.1:9004 ]
)" + pool_extra;
    auto loaded = config::load_string(yaml, "sel.yaml");
    ASSERT_TRUE(loaded.ok()) << loaded.errors.front().str();
    std::vector<std::string> errors;
    snap = runtime::build_snapshot(loaded.cfg, 1, reg, errors);
    ASSERT_NE(snap, nullptr);
    wp = std::make_unique<worker_pool>(pool(), 0);
  }
  const pool_snapshot& pool() const { return snap->pools[0]; }
  endpoint_live& ep(std::size_t i) const { return *pool().live[i]; }
  bool ejected(std::size_t i) const { return ep(i).ejected(ticks(clock::now())); }
};

TEST_F(pool_fixture, consecutive_failures_eject_and_success_resets_the_streak) {
  load("    outlier: { consecutive_failures: 3, base_ejection: 30s, max_ejected_percent: 50 }\n");
  const auto now = clock::now();
  record(pool(), 0, true, now);
  record(pool(), 0, true, now);
  record(pool(), 0, false, now);  // a success in between: the streak starts over
  record(pool(), 0, true, now);
  record(pool(), 0, true, now);
  EXPECT_FALSE(ejected(0));
  record(pool(), 0, true, now);
  EXPECT_TRUE(ejected(0));
  EXPECT_EQ(ep(0).ejections.load(), 1u);
}

TEST_F(pool_fixture, repeated_ejections_last_longer) {
  load("    outlier: { consecutive_failures: 1, base_ejection: 10s, max_ejected_percent: 100 }\n");
  const auto t0 = clock::now();
  record(pool(), 0, true, t0);
  const auto first = ep(0).ejected_until.load() - ticks(t0);
  ep(0).ejected_until.store(0);  // returned
  record(pool(), 0, true, t0);
  const auto second = ep(0).ejected_until.load() - ticks(t0);
  EXPECT_EQ(first, std::chrono::duration_cast<clock::duration>(seconds(10)).count());
  EXPECT_EQ(second, 2 * first);
}

TEST_F(pool_fixture, max_ejected_percent_caps_ejections) {
  load("    outlier: { consecutive_failures: 1, base_ejection: 30s, max_ejected_percent: 50 }\n");
  const auto now = clock::now();
  for (std::size_t i = 0; i < 4; ++i) record(pool(), i, true, now);
  int count = 0;
  for (std::size_t i = 0; i < 4; ++i) count += ejected(i);
  EXPECT_EQ(count, 2);  // 50% of 4
}

TEST_F(pool_fixture, a_low_percentage_still_ejects_one) {
  load("    outlier: { consecutive_failures: 1, base_ejection: 30s, max_ejected_percent: 10 }\n");
  const auto now = clock::now();
  for (std::size_t i = 0; i < 4; ++i) record(pool(), i, true, now);
  int count = 0;
  for (std::size_t i = 0; i < 4; ++i) count += ejected(i);
  EXPECT_EQ(count, 1);
}

TEST_F(pool_fixture, zero_percent_never_ejects) {
  load("    outlier: { consecutive_failures: 1, base_ejection: 30s, max_ejected_percent: 0 }\n");
  const auto now = clock::now();
  for (std::size_t i = 0; i < 4; ++i) record(pool(), i, true, now);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_FALSE(ejected(i)) << i;
}

TEST_F(pool_fixture, pick_skips_unhealthy_ejected_tried_and_full_endpoints) {
  load("    max_connections_per_endpoint: 2\n");
  const auto now = clock::now();
  ep(0).healthy.store(false);
  ep(1).ejected_until.store(ticks(now) + std::chrono::duration_cast<clock::duration>(seconds(30)).count());
  ep(2).connections.store(2);  // full
  tried_set tried(4);
  for (int i = 0; i < 20; ++i) {
    const auto r = pick(pool(), *wp, tried, 0, now);
    ASSERT_EQ(r.result, pick_result::outcome::picked);
    EXPECT_EQ(r.index, 3u);
  }
  tried.set(3);
  EXPECT_EQ(pick(pool(), *wp, tried, 0, now).result, pick_result::outcome::all_full);
  ep(2).connections.store(0);
  ep(2).healthy.store(false);
  EXPECT_EQ(pick(pool(), *wp, tried, 0, now).result, pick_result::outcome::none_healthy);
  for (std::size_t i = 0; i < 4; ++i) tried.set(i);
  EXPECT_EQ(pick(pool(), *wp, tried, 0, now).result, pick_result::outcome::all_tried);
}

TEST_F(pool_fixture, slow_start_ramps_the_effective_weight) {
  load("    slow_start: 100s\n");
  const auto now = ticks(clock::now());
  const auto slow = std::chrono::duration_cast<clock::duration>(seconds(100));
  ep(0).ready_since.store(now);
  EXPECT_EQ(effective_weight(1, ep(0), now, slow), 10u);  // the 10% floor, of weight x100
  ep(0).ready_since.store(now - slow.count() / 2);
  EXPECT_EQ(effective_weight(1, ep(0), now, slow), 50u);
  ep(0).ready_since.store(now - slow.count());
  EXPECT_EQ(effective_weight(1, ep(0), now, slow), 100u);
}

// A pool written without endpoints (a Kubernetes Service without ready pods)
// builds, and a pick finds no healthy endpoint (503), not "all tried" (502),
// whatever the balancer.
TEST(empty_pool, builds_and_picks_none_healthy) {
  for (const char* balancer : {"round_robin", "least_conn", "least_request", "random", "ring_hash", "maglev"}) {
    const std::string yaml = std::string(R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    routes: [{ pool: p }]
pools:
  - name: p
    endpoints: []
    balancer: )") + balancer + "\n";
    auto loaded = config::load_string(yaml, "empty.yaml");
    ASSERT_TRUE(loaded.ok()) << loaded.errors.front().str();
    live_registry reg{1};
    std::vector<std::string> errors;
    const auto snap = runtime::build_snapshot(loaded.cfg, 1, reg, errors);
    ASSERT_NE(snap, nullptr) << balancer << ": " << (errors.empty() ? "" : errors.front());
    worker_pool wp(snap->pools[0], 0);
    tried_set tried(0);
    EXPECT_EQ(pick(snap->pools[0], wp, tried, 7, clock::now()).result, pick_result::outcome::none_healthy) << balancer;
  }
}

}  // namespace
}  // namespace lb::upstream
