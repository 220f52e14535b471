#pragma once
// The status page (GET / and /ui): one self-contained HTML document with its
// CSS and JavaScript inlined from lb/admin/ui/ (compiled in, no CDN). The
// server fills in the first view as plain tables, so it reads with JavaScript
// off; with it on, ui/app.js redraws the same tables from /stats, /pools and
// /config every few seconds.

#include <string>

#include <nlohmann/json.hpp>

namespace lb::admin {

// Thread: control. `stats` is the /stats document (stats_history::render).
std::string render_page(const nlohmann::ordered_json& stats);

}  // namespace lb::admin
