// The controller's admin endpoints, and the sampling behind /stats.
#include <nlohmann/json.hpp>

#include "lb/admin/page.h"
#include "lb/admin/views.h"
#include "lb/control/controller.h"
#include "lb/core/version.h"

namespace lb::control {

namespace bhttp = boost::beast::http;

void controller::add_admin_routes() {
  using admin::reply;
  admin_->route(bhttp::verb::get, "/healthz", [] { return reply{bhttp::status::ok, "ok\n"}; });
  admin_->route(bhttp::verb::get, "/readyz", [this] {
    if (draining_) return reply{bhttp::status::service_unavailable, "draining\n"};
    if (!ready_) return reply{bhttp::status::service_unavailable, "not ready\n"};
    if (!ingress_.ready()) return reply{bhttp::status::service_unavailable, "kubernetes objects not listed yet\n"};
    return reply{bhttp::status::ok, "ready\n"};
  });
  admin_->route(bhttp::verb::get, "/metrics", [this] {
    return reply{bhttp::status::ok, admin::render_metrics(*current_, facts_, lb::version),
                 "text/plain; version=0.0.4; charset=utf-8"};
  });
  admin_->route(bhttp::verb::get, "/config", [this] {
    return reply{bhttp::status::ok, admin::render_config(*current_), "application/json"};
  });
  admin_->route(bhttp::verb::get, "/pools", [this] {
    return reply{bhttp::status::ok, admin::render_pools(*current_), "application/json"};
  });
  admin_->route(bhttp::verb::get, "/stats", [this] {
    return reply{bhttp::status::ok, stats_.render(*current_, facts_, unix_now()).dump(2) + "\n", "application/json"};
  });
  for (const char* page : {"/", "/ui"}) {
    admin_->route(bhttp::verb::get, page, [this] {
      return reply{bhttp::status::ok, admin::render_page(stats_.render(*current_, facts_, unix_now())),
                   "text/html; charset=utf-8"};
    });
  }
  admin_->route(bhttp::verb::post, "/upgrade", [this] {
    nlohmann::json body;
    std::string refused;
    const pid_t pid = start_upgrade("POST /upgrade", refused);
    if (pid > 0) body["pid"] = pid;
    else body["error"] = refused;
    return reply{pid > 0 ? bhttp::status::accepted : bhttp::status::conflict, body.dump() + "\n", "application/json"};
  });
  admin_->route(bhttp::verb::post, "/reload", [this] {
    auto r = reload("POST /reload");
    nlohmann::json body;
    if (r.ok) body["version"] = r.version;
    else body["errors"] = r.errors;
    return reply{r.ok ? bhttp::status::ok : bhttp::status::bad_request, body.dump() + "\n", "application/json"};
  });
}

void controller::schedule_stats() {
  stats_.sample(*current_, unix_now());
  if (draining_) return;
  stats_timer_.expires_after(admin::stats_history::period);
  stats_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) schedule_stats();
  });
}
}  // namespace lb::control
