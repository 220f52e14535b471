#include "lb/admin/page.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "lb/admin/stats.h"
#include "lb/config/loader.h"
#include "lb/runtime/snapshot.h"

namespace lb::admin {
namespace {

const std::string yaml = R"(workers: 1
listeners:
  - name: web
    listen: 127.0.0.1:8080
    routes:
      - { name: api, match: { path_prefix: / }, pool: p1 }
pools:
  - name: p1
    endpoints: [127.0.0.1:9001, 127.0.0.1:9002]
)";

nlohmann::ordered_json stats_for(upstream::live_registry& reg, std::shared_ptr<const runtime::snapshot>& snap) {
  if (!snap) {
    auto loaded = config::load_string(yaml, "page.yaml");
    EXPECT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors.front().str());
    std::vector<std::string> errors;
    snap = runtime::build_snapshot(loaded.cfg, 1, reg, errors);
  }
  stats_history s;
  s.sample(*snap, 10);
  return s.render(*snap, control_facts{}, 12);
}

TEST(page, first_view_is_server_rendered_tables) {
  upstream::live_registry reg{1};
  std::shared_ptr<const runtime::snapshot> snap;
  const auto html = render_page(stats_for(reg, snap));
  snap->pools[0].live[1]->healthy.store(false);
  const auto down = render_page(stats_for(reg, snap));
  EXPECT_NE(html.find("<!doctype html>"), std::string::npos);
  EXPECT_NE(html.find("<section id=\"listeners\">"), std::string::npos);
  EXPECT_NE(html.find("<tr data-listener=\"web\">"), std::string::npos);
  EXPECT_NE(html.find("<tr data-route=\"web/api\">"), std::string::npos);
  EXPECT_NE(html.find("<tr data-endpoint=\"127.0.0.1:9001\" class=\"up\">"), std::string::npos);
  EXPECT_NE(down.find("<tr data-endpoint=\"127.0.0.1:9002\" class=\"down\">"), std::string::npos);
  EXPECT_NE(down.find("unhealthy"), std::string::npos);
}

TEST(page, names_are_escaped_and_assets_inlined) {
  upstream::live_registry reg{1};
  std::shared_ptr<const runtime::snapshot> snap;
  auto stats = stats_for(reg, snap);
  stats["pools"][0]["name"] = "p<1>\"";  // names are plain in config, but the renderer must not trust that
  const auto html = render_page(stats);
  EXPECT_EQ(html.find("p<1>"), std::string::npos);
  EXPECT_NE(html.find("data-pool=\"p&lt;1&gt;&quot;\""), std::string::npos);
  // Self-contained: CSS and JS inline, nothing fetched from elsewhere.
  EXPECT_EQ(html.find("/*lb:css*/"), std::string::npos);
  EXPECT_EQ(html.find("/*lb:js*/"), std::string::npos);
  EXPECT_EQ(html.find("<!--lb:body-->"), std::string::npos);
  EXPECT_NE(html.find("getJson(\"/stats\")"), std::string::npos);
  EXPECT_EQ(html.find("src=\"http"), std::string::npos);
  EXPECT_EQ(html.find("href=\"http"), std::string::npos);
}

}  // namespace
}  // namespace lb::admin
