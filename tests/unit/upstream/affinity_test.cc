#include "lb/upstream/affinity.h"

#include <gtest/gtest.h>

#include "lb/config/loader.h"
#include "lb/runtime/snapshot.h"
#include "lb/upstream/selection.h"

namespace lb::upstream {
namespace {

struct affinity_fixture : ::testing::Test {
  live_registry reg{1};
  std::shared_ptr<const runtime::snapshot> snap;
  std::unique_ptr<worker_pool> wp;

  void load(const std::string& affinity) {
    const std::string yaml = R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    routes: [{pool: p}]
pools:
  - name: p
    endpoints: [ 127.0.0.1:9001, 127.0.0.1:9002, 127.0.0.1:9003 ]
    max_connections_per_endpoint: 2
    affinity: )" + affinity + "\n";
    auto loaded = config::load_string(yaml, "aff.yaml");
    ASSERT_TRUE(loaded.ok()) << loaded.errors.front().str();
    std::vector<std::string> errors;
    snap = runtime::build_snapshot(loaded.cfg, 1, reg, errors);
    ASSERT_NE(snap, nullptr);
    wp = std::make_unique<worker_pool>(pool(), 0);
  }
  const pool_snapshot& pool() const { return snap->pools[0]; }
  std::string cookie(std::size_t i) const {
    std::string out;
    affinity_cookie_value(out, pool(), i);
    return out;
  }
};

TEST_F(affinity_fixture, each_endpoint_gets_its_own_value_that_names_it_back) {
  load("{cookie: SRV}");
  for (std::size_t i = 0; i < 3; ++i) {
    const auto c = cookie(i);
    ASSERT_EQ(c.substr(0, 4), "SRV=") << c;
    const auto value = c.substr(4, 16);
    EXPECT_EQ(value.find_first_not_of("0123456789abcdef"), std::string::npos) << c;
    EXPECT_EQ(affinity_endpoint(pool(), value), i);
    EXPECT_EQ(c.substr(20), "; Path=/; HttpOnly");
  }
  EXPECT_NE(cookie(0).substr(4, 16), cookie(1).substr(4, 16));
}

TEST_F(affinity_fixture, values_are_the_address_hash_so_they_outlive_a_reload) {
  load("{cookie: SRV}");
  const auto before = cookie(1).substr(4, 16);
  EXPECT_EQ(before.size(), 16u);
  // Another process, registry and order of endpoints: the same endpoint, the same value.
  live_registry other{2};
  auto loaded = config::load_string(R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    routes: [{pool: p}]
pools:
  - name: p
    endpoints: [ 127.0.0.1:9002, 127.0.0.1:9005 ]
    affinity: {cookie: SRV}
)", "b.yaml");
  ASSERT_TRUE(loaded.ok());
  std::vector<std::string> errors;
  const auto s2 = runtime::build_snapshot(loaded.cfg, 2, other, errors);
  ASSERT_NE(s2, nullptr);
  EXPECT_EQ(affinity_endpoint(s2->pools[0], before), 0u);
}

TEST_F(affinity_fixture, a_value_that_names_no_endpoint_is_none) {
  load("{cookie: SRV}");
  const auto v = cookie(2).substr(4, 16);
  EXPECT_EQ(affinity_endpoint(pool(), ""), no_endpoint);
  EXPECT_EQ(affinity_endpoint(pool(), v.substr(0, 15)), no_endpoint);
  EXPECT_EQ(affinity_endpoint(pool(), v + "0"), no_endpoint);
  std::string upper = v;
  for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (upper != v) {
    EXPECT_EQ(affinity_endpoint(pool(), upper), no_endpoint);
  }
  EXPECT_EQ(affinity_endpoint(pool(), "zzzzzzzzzzzzzzzz"), no_endpoint);
  EXPECT_EQ(affinity_endpoint(pool(), "0000000000000000"), no_endpoint);
}

TEST_F(affinity_fixture, attributes_follow_the_config) {
  load("{cookie: s, path: /shop, domain: example.com, max_age: 90m, secure: true, http_only: false, same_site: lax}");
  EXPECT_EQ(cookie(0).substr(18), "; Path=/shop; Domain=example.com; Max-Age=5400; Secure; SameSite=Lax");
}

TEST_F(affinity_fixture, an_endpoint_is_available_while_it_could_be_picked) {
  load("{cookie: SRV}");
  const auto now = clock::now();
  tried_set tried(3);
  EXPECT_TRUE(available(pool(), *wp, tried, 0, now));
  tried.set(0);
  EXPECT_FALSE(available(pool(), *wp, tried, 0, now)) << "tried for this request";
  EXPECT_FALSE(available(pool(), *wp, tried, no_endpoint, now));
  pool().live[1]->healthy.store(false);
  EXPECT_FALSE(available(pool(), *wp, tried, 1, now)) << "unhealthy";
  pool().live[2]->ejected_until.store(ticks(now) + std::chrono::steady_clock::duration(std::chrono::seconds(30)).count());
  EXPECT_FALSE(available(pool(), *wp, tried, 2, now)) << "ejected";
  pool().live[2]->ejected_until.store(0);
  EXPECT_TRUE(available(pool(), *wp, tried, 2, now));
  pool().live[2]->connections.store(2);
  EXPECT_FALSE(available(pool(), *wp, tried, 2, now)) << "at max_connections_per_endpoint";
}

}  // namespace
}  // namespace lb::upstream
