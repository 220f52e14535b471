#include "lb/admin/page.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <initializer_list>
#include <string_view>

#include "lb/admin/ui_assets.h"

namespace lb::admin {

using json = nlohmann::ordered_json;

namespace {

// The same formats as ui/app.js, so the first view and the live one agree.
std::string esc(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}
std::string esc(const json& v) { return v.is_string() ? esc(std::string_view(v.get_ref<const std::string&>())) : esc(std::string_view(v.dump())); }
std::string esc(const std::string& s) { return esc(std::string_view(s)); }

const char* const dash = "\u2013";
const char* const dot = " \u00b7 ";

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string rate(const json& v) {
  if (!v.is_number()) return dash;
  const double x = v.get<double>();
  return x < 10 ? fmt("%.1f", x) : fmt("%.0f", std::round(x));
}

std::string pct(const json& v) { return v.is_number() ? fmt("%.1f%%", v.get<double>() * 100) : dash; }

std::string secs(const json& v) {
  if (!v.is_number()) return dash;
  const double x = v.get<double>();
  if (x < 1) {
    std::string s = fmt("%.3g", x * 1000);
    return s + " ms";
  }
  return fmt("%.2f s", x);
}

std::string td(std::string_view label, const std::string& html, std::string_view cls = {}) {
  std::string out = "<td data-label=\"" + esc(label) + "\"";
  if (!cls.empty()) out += " class=\"" + std::string(cls) + "\"";
  return out + ">" + html + "</td>";
}

// A table with these column heads ("#name": a numeric, right-aligned column).
std::string table(std::initializer_list<std::string_view> heads, const std::string& rows) {
  std::string out = "<table><thead><tr>";
  for (auto h : heads) {
    const bool num = h.starts_with('#');
    out += num ? "<th class=\"num\">" : "<th>";
    out += esc(num ? h.substr(1) : h);
    out += "</th>";
  }
  return out + "</tr></thead><tbody>" + rows + "</tbody></table>";
}

std::string spark(const json& history) {
  const json& r = history["requests"];
  const json& e = history["errors"];
  const std::size_t n = std::max<std::size_t>(r.size(), 2);
  const double w = 90, h = 22;
  double max = 1;
  for (const auto& x : r) max = std::max(max, x.get<double>());
  for (const auto& x : e) max = std::max(max, x.get<double>());
  const auto pts = [&](const json& xs) {
    std::string s;
    for (std::size_t i = 0; i < xs.size(); ++i) {
      if (i) s += ' ';
      s += fmt("%.1f", static_cast<double>(i) * w / static_cast<double>(n - 1)) + "," +
           fmt("%.1f", h - 1 - xs[i].get<double>() / max * (h - 2));
    }
    return s;
  };
  return "<svg class=\"spark\" viewBox=\"0 0 90 22\" role=\"img\" aria-label=\"requests and errors per second, last "
         "minute\"><polyline class=\"r\" points=\"" +
         pts(r) + "\"/><polyline class=\"e\" points=\"" + pts(e) + "\"/></svg>";
}

std::string header(const json& s) {
  const json& b = s["build"];
  const json& last = s["reloads"]["last"];
  const bool ok = last["result"] == "success";
  std::string err;
  if (!last["errors"].empty()) err = dot + esc(last["errors"][0]);
  return "<h1>lb</h1><dl class=\"facts\">"
         "<div><dt>build</dt><dd id=\"build\">" + esc(b["version"]) + " (" + esc(b["revision"]) + ", " +
         esc(b["build_type"]) + ")" + dot + esc(s["workers"]) + " workers</dd></div>"
         "<div><dt>config</dt><dd id=\"config\">v" + esc(s["config"]["version"]) + dot + "loaded " +
         esc(s["config"]["loaded_at"]) + "</dd></div>"
         "<div><dt>last reload</dt><dd id=\"reload\" class=\"" + (ok ? "ok" : "bad") + "\">" + esc(last["result"]) + dot +
         esc(last["trigger"]) + dot + esc(last["at"]) + err + "</dd></div>"
         "<div><dt>uptime</dt><dd id=\"uptime\">" + fmt("%.0f", s["uptime_seconds"].get<double>()) + " s</dd></div>"
         "<div><dt>updated</dt><dd id=\"updated\">server-rendered at " + esc(s["time"]) + "</dd></div></dl>";
}

std::string listeners(const json& s) {
  std::string rows;
  for (const auto& l : s["listeners"]) {
    rows += "<tr data-listener=\"" + esc(l["name"]) + "\">" + td("listener", esc(l["name"])) +
            td("address", esc(l["listen"])) + td("connections", esc(l["connections_active"]), "num") +
            td("limit", esc(l["connections_max"]), "num") + td("conn/s", rate(l["connection_rate"]), "num") +
            td("req/s", rate(l["request_rate"]), "num rate") + td("errors", pct(l["error_ratio"]), "num") + "</tr>";
  }
  return "<h2>Listeners</h2>" +
         table({"listener", "address", "#connections", "#limit", "#conn/s", "#req/s", "#errors"}, rows);
}

std::string routes(const json& s) {
  std::string rows;
  for (const auto& r : s["routes"]) {
    rows += "<tr data-route=\"" + esc(r["listener"]) + "/" + esc(r["name"]) + "\">" + td("listener", esc(r["listener"])) +
            td("route", esc(r["name"])) + td("pool", esc(r["pool"])) + td("req/s", rate(r["request_rate"]), "num rate") +
            td("errors", pct(r["error_ratio"]), "num") + td("p50", secs(r["p50_seconds"]), "num") +
            td("p99", secs(r["p99_seconds"]), "num") + td("requests", esc(r["requests_total"]), "num") + "</tr>";
  }
  return "<h2>Routes</h2>" +
         table({"listener", "route", "pool", "#req/s", "#errors", "#p50", "#p99", "#requests"}, rows);
}

std::string check_text(const json& c) {
  if (c.is_null()) return dash;
  const bool pass = c["result"] == "pass";
  return std::string("<span class=\"") + (pass ? "ok" : "bad") + "\">" + esc(c["result"]) + "</span>: " + esc(c["reason"]);
}

std::string pools(const json& s) {
  std::string out = "<h2>Pools</h2><div class=\"pools\">";
  for (const auto& p : s["pools"]) {
    std::string rows;
    for (const auto& e : p["endpoints"]) {
      const bool healthy = e["healthy"].get<bool>();
      const std::string ejected =
          e["ejected"].get<bool>()
              ? "<span class=\"warn\">yes, " + fmt("%.0f", std::ceil(e["ejected_until"].get<double>())) + " s left</span>"
              : "no";
      rows += "<tr data-endpoint=\"" + esc(e["address"]) + "\" class=\"" + (healthy ? "up" : "down") + "\">" +
              td("endpoint", esc(e["address"])) +
              td("health", healthy ? "<span class=\"badge ok\">healthy</span>" : "<span class=\"badge bad\">unhealthy</span>",
                 "health") +
              td("last check", check_text(e["check"])) + td("ejected", ejected) +
              td("in flight", esc(e["in_flight"]), "num") + td("connections", esc(e["connections"]), "num") +
              td("weight", esc(e["effective_weight"]) + " / " + esc(e["weight"]), "num") +
              td("req/s", rate(e["request_rate"]), "num rate") + td("errors/s", rate(e["error_rate"]), "num") +
              td("trend", spark(e["history"])) + "</tr>";
    }
    const json& hc = p["health_check"];
    const std::string check = hc.is_null() ? "no active check"
                                            : "check " + hc["type"].get<std::string>() + " every " +
                                                  hc["interval"].get<std::string>();
    out += "<article class=\"pool\" data-pool=\"" + esc(p["name"]) + "\"><h3>" + esc(p["name"]) + " <small>" +
           esc(p["balancer"]) + dot + esc(p["endpoints_usable"]) + "/" + esc(p["endpoints_total"]) + " usable" + dot +
           esc(check) + dot + rate(p["request_rate"]) + " req/s</small></h3>" +
           table({"endpoint", "health", "last check", "ejected", "#in flight", "#connections", "#weight", "#req/s",
                  "#errors/s", "trend"},
                 rows) +
           "</article>";
  }
  return out + "</div>";
}

void replace(std::string& doc, std::string_view marker, const std::string& with) {
  if (auto at = doc.find(marker); at != std::string::npos) doc.replace(at, marker.size(), with);
}

}  // namespace

std::string render_page(const json& stats) {
  const std::string body = "<header class=\"top\" id=\"top\">" + header(stats) + "</header><main>" +
                           "<section id=\"listeners\">" + listeners(stats) + "</section>" +
                           "<section id=\"routes\">" + routes(stats) + "</section>" +
                           "<section id=\"pools\">" + pools(stats) + "</section></main>";
  std::string doc(ui::index_html);
  // Body last: the markers are not looked for inside the inserted content.
  replace(doc, "/*lb:css*/", std::string(ui::style_css));
  replace(doc, "/*lb:js*/", std::string(ui::app_js));
  replace(doc, "<!--lb:body-->", body);
  return doc;
}

}  // namespace lb::admin
