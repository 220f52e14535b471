#include "lb/runtime/snapshot.h"

#include <gtest/gtest.h>

#include "lb/config/loader.h"

namespace lb::runtime {
namespace {

// Two listeners (one with a regex route), three pools; `pb` and `pc` as given.
std::string yaml(const std::string& pb_endpoints, const std::string& pc = "[ 127.0.0.1:9301 ]",
                 const std::string& route_c = "/c") {
  return R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    routes:
      - match: { host: "~api[0-9]+\\.example\\.com" }
        pool: pa
      - match: { path_prefix: /b }
        pool: pb
      - match: { path_prefix: )" +
         route_c + R"( }
        pool: pc
  - name: raw
    listen: 127.0.0.1:8081
    protocol: tcp
    pool: pa
pools:
  - name: pa
    balancer: maglev
    endpoints: [ 127.0.0.1:9101, 127.0.0.1:9102 ]
  - name: pb
    balancer: maglev
    endpoints: )" +
         pb_endpoints + R"(
  - name: pc
    endpoints: )" +
         pc + "\n";
}

std::shared_ptr<const config::config> load(const std::string& text) {
  auto r = config::load_string(text, "snap.yaml");
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front().str());
  return r.cfg;
}

struct republish : ::testing::Test {
  upstream::live_registry reg{1};
  std::shared_ptr<const snapshot> first;

  void SetUp() override {
    std::vector<std::string> errors;
    first = build_snapshot(load(yaml("[ 127.0.0.1:9201, 127.0.0.1:9202 ]")), 1, reg, errors);
    ASSERT_NE(first, nullptr) << errors.front();
    reg.retain_only_used();
  }

  std::shared_ptr<const snapshot> next(const std::string& text, std::vector<std::string>& rebuilt) {
    std::vector<std::string> errors;
    dns_cache dns;
    auto cfg = load(text);
    EXPECT_TRUE(config::differs_in_pools_only(*first->cfg, *cfg));
    auto snap = republish_pools(*first, cfg, 2, reg, dns, rebuilt, errors);
    EXPECT_TRUE(errors.empty()) << errors.front();
    return snap;
  }
};

TEST(differs_in_pools_only, tells_a_change_to_pools_from_any_other) {
  const auto base = load(yaml("[ 127.0.0.1:9201 ]"));
  EXPECT_TRUE(config::differs_in_pools_only(*base, *base));
  EXPECT_TRUE(config::differs_in_pools_only(*base, *load(yaml("[ 127.0.0.1:9201, 127.0.0.1:9202 ]"))));
  EXPECT_TRUE(config::differs_in_pools_only(*base, *load(yaml("[ 127.0.0.1:9201 ]", "[ 127.0.0.1:9999 ]"))));
  // A route changed: the routers must be built again.
  EXPECT_FALSE(config::differs_in_pools_only(*base, *load(yaml("[ 127.0.0.1:9201 ]", "[ 127.0.0.1:9301 ]", "/d"))));
  // A pool added, removed or renamed moves the routes' pool indexes.
  auto extra = load(yaml("[ 127.0.0.1:9201 ]") + "  - name: pd\n    endpoints: [ 127.0.0.1:9401 ]\n");
  EXPECT_FALSE(config::differs_in_pools_only(*base, *extra));
  EXPECT_FALSE(config::differs_in_pools_only(*extra, *base));
  auto renamed = std::make_shared<config::config>(*base);
  renamed->pools[2].name = "pz";
  EXPECT_FALSE(config::differs_in_pools_only(*base, *renamed));
  // Top-level settings are compared too.
  auto drain = std::make_shared<config::config>(*base);
  drain->drain_timeout = std::chrono::seconds(1);
  EXPECT_FALSE(config::differs_in_pools_only(*base, *drain));
}

TEST_F(republish, shares_listeners_and_unchanged_pools_and_builds_the_changed_one) {
  std::vector<std::string> rebuilt;
  auto snap = next(yaml("[ 127.0.0.1:9201, 127.0.0.1:9203 ]"), rebuilt);
  ASSERT_NE(snap, nullptr);
  EXPECT_EQ(rebuilt, std::vector<std::string>{"pb"});
  EXPECT_EQ(snap->listeners.share(), first->listeners.share()) << "the routers were built again";
  EXPECT_EQ(snap->pools.share(0), first->pools.share(0));
  EXPECT_EQ(snap->pools.share(2), first->pools.share(2));
  EXPECT_NE(snap->pools.share(1), first->pools.share(1));
  const auto& pb = snap->pools[1];
  ASSERT_EQ(pb.labels, (std::vector<std::string>{"127.0.0.1:9201", "127.0.0.1:9203"}));
  // The endpoint that stayed keeps its live object (health, counters).
  EXPECT_EQ(pb.live[0], first->pools[1].live[0]);
  EXPECT_NE(pb.balancer, first->pools[1].balancer);
  EXPECT_EQ(snap->version, 2u);
  EXPECT_EQ(snap->cfg->pools[1].endpoints.size(), 2u);
}

TEST_F(republish, a_shared_pool_outlives_the_config_it_was_built_from) {
  std::vector<std::string> rebuilt;
  auto second = next(yaml("[ 127.0.0.1:9201, 127.0.0.1:9203 ]"), rebuilt);
  ASSERT_NE(second, nullptr);
  // The changed pool holds a copy of its own config, not the whole second one.
  auto third_cfg = load(yaml("[ 127.0.0.1:9201, 127.0.0.1:9203 ]", "[ 127.0.0.1:9302 ]"));
  std::vector<std::string> errors;
  dns_cache dns;
  rebuilt.clear();
  auto third = republish_pools(*second, third_cfg, 3, reg, dns, rebuilt, errors);
  ASSERT_NE(third, nullptr);
  EXPECT_EQ(rebuilt, std::vector<std::string>{"pc"});
  EXPECT_EQ(third->pools.share(1), second->pools.share(1));
  const std::weak_ptr<const config::config> second_cfg = second->cfg;
  second.reset();
  EXPECT_TRUE(second_cfg.expired()) << "a pool shared from the second snapshot keeps its whole config alive";
  first.reset();
  // Under ASan, reading what the shared pools point at proves they kept it.
  EXPECT_EQ(third->pools[1].cfg->endpoints.size(), 2u);
  EXPECT_EQ(third->pools[0].cfg->name, "pa");
  EXPECT_EQ(third->listeners[0].cfg->routes.size(), 3u);
  EXPECT_EQ(third->listeners[1].cfg->pool, "pa");
}

TEST_F(republish, forgets_the_endpoints_a_rebuilt_pool_dropped) {
  const auto dropped = first->pools[1].live[1];
  const auto kept_elsewhere = first->pools[0].live[0];
  std::vector<std::string> rebuilt;
  auto snap = next(yaml("[ 127.0.0.1:9201 ]"), rebuilt);
  ASSERT_NE(snap, nullptr);
  reg.retain_only_used(rebuilt);
  // Asked for again, a dropped endpoint starts afresh; the others are the same objects.
  EXPECT_NE(reg.endpoint("pb", "127.0.0.1:9202"), dropped);
  EXPECT_EQ(reg.endpoint("pb", "127.0.0.1:9201"), snap->pools[1].live[0]);
  EXPECT_EQ(reg.endpoint("pa", "127.0.0.1:9101"), kept_elsewhere);
  // Untouched pools keep their balancer tables in the cache: a full build reuses them.
  std::vector<std::string> errors;
  auto full = build_snapshot(snap->cfg, 3, reg, errors);
  ASSERT_NE(full, nullptr);
  EXPECT_EQ(full->pools[0].balancer, first->pools[0].balancer);
}

TEST_F(republish, rebuilds_pools_with_tls_or_hostnames_every_time) {
  // pb names a host, pc (the last pool) has tls; neither changes.
  auto text = yaml("[ localhost:9201 ]", "[ 127.0.0.1:9301 ]");
  text += "    tls: { verify: false }\n";
  std::vector<std::string> errors;
  first = build_snapshot(load(text), 1, reg, errors);
  ASSERT_NE(first, nullptr) << errors.front();
  std::vector<std::string> rebuilt;
  auto snap = next(text, rebuilt);
  ASSERT_NE(snap, nullptr);
  EXPECT_EQ(rebuilt, (std::vector<std::string>{"pb", "pc"}));
  EXPECT_EQ(snap->pools.share(0), first->pools.share(0));
}

TEST_F(republish, positions_are_not_part_of_a_pool) {
  // An endpoint line added to pb moves pc's lines: pc is the same pool.
  auto moved = std::make_shared<config::config>(*load(yaml("[ 127.0.0.1:9201, 127.0.0.1:9202 ]")));
  moved->pools[2].name_pos.line += 1;
  moved->pools[2].protocol_pos.line += 3;
  EXPECT_EQ(moved->pools[2], first->cfg->pools[2]);
  std::vector<std::string> rebuilt, errors;
  dns_cache dns;
  auto snap = republish_pools(*first, moved, 2, reg, dns, rebuilt, errors);
  ASSERT_NE(snap, nullptr);
  EXPECT_TRUE(rebuilt.empty());
  EXPECT_EQ(snap->pools.share(2), first->pools.share(2));
}

}  // namespace
}  // namespace lb::runtime
