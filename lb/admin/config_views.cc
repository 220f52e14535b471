#include "lb/admin/views.h"

// /config and /pools: the running config and the pools' live state as JSON.

#include <arpa/inet.h>

#include <cctype>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "lb/admin/endpoint_state.h"
#include "lb/config/parse.h"
#include "lb/upstream/selection.h"

namespace lb::admin {

namespace {

// Insertion-ordered: /config and /pools read in the order of the YAML file.
using json = nlohmann::ordered_json;

// ---- JSON -------------------------------------------------------------------

std::string hash_key_text(const config::hash_key& k) {
  switch (k.type) {
    case config::hash_key::kind::client_ip: return "client_ip";
    case config::hash_key::kind::header: return "header:" + k.name;
    case config::hash_key::kind::cookie: return "cookie:" + k.name;
    case config::hash_key::kind::path: return "path";
    case config::hash_key::kind::sni: return "sni";
  }
  return "";
}

// Back to the form the YAML accepts ("*.example.com", "www.example.*", "~re").
json host_text(const config::host_match& h) {
  switch (h.type) {
    case config::host_match::kind::any: return nullptr;
    case config::host_match::kind::exact: return h.value;
    case config::host_match::kind::suffix: return "*" + h.value;   // value ".example.com"
    case config::host_match::kind::prefix: return h.value + "*";   // value "www.example."
    case config::host_match::kind::regex: return "~" + h.value;
  }
  return nullptr;
}

const char* path_key(config::path_match::kind k) {
  switch (k) {
    case config::path_match::kind::prefix: return "path_prefix";
    case config::path_match::kind::exact: return "path_exact";
    case config::path_match::kind::regex: return "path_regex";
  }
  return "path_prefix";
}

// Header values that carry credentials (a route may set an upstream's
// Authorization): /config shows that they are set, not what they are.
bool secret_header(std::string_view name) {
  std::string n(name);
  for (auto& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (std::string_view word : {"authorization", "cookie", "token", "secret", "key", "password", "auth"})
    if (n.find(word) != std::string::npos) return true;
  return false;
}

json header_map(const std::vector<std::pair<std::string, std::string>>& headers, bool redact = false) {
  json out = json::object();
  for (const auto& [name, value] : headers) out[name] = redact && secret_header(name) ? "<redacted>" : value;
  return out;
}

std::string dur(config::duration d) { return config::format_duration(d); }

std::string cidr_text(const config::cidr& c) {
  char text[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(c.v6 ? AF_INET6 : AF_INET, c.bytes.data(), text, sizeof text);
  return std::string(text) + "/" + std::to_string(c.prefix);
}

json route_json(const config::route& r) {
  json match = json::object();
  if (r.host.type != config::host_match::kind::any) match["host"] = host_text(r.host);
  match[path_key(r.path.type)] = r.path.value;
  match["headers"] = header_map(r.headers);
  json cookies = json::object();
  for (const auto& [name, value] : r.cookies) cookies[name] = value;
  match["cookies"] = std::move(cookies);

  json on = json::array();
  if (r.retries.on_connect_failure) on.push_back("connect-failure");
  if (r.retries.on_refused_stream) on.push_back("refused-stream");
  for (auto code : r.retries.on_status) on.push_back(code);

  json j;
  j["name"] = r.name;
  j["match"] = std::move(match);
  j["pool"] = r.pool;
  j["timeout"] = dur(r.timeout);
  j["send_timeout"] = dur(r.write_timeout());
  j["retries"] = {{"attempts", r.retries.attempts}, {"on", std::move(on)}, {"budget_percent", r.retries.budget_percent}};
  j["set_headers"] = header_map(r.set_headers, true);
  if (const auto& cl = r.client_limits) {
    json allow = json::array();
    for (const auto& c : cl->allowlist) allow.push_back(cidr_text(c));
    j["client_limits"] = {{"requests_per_second", cl->requests_per_second},
                          {"burst", cl->burst},
                          {"concurrent_requests", cl->concurrent_requests},
                          {"allowlist", std::move(allow)},
                          {"table_size", cl->table_size}};
  }
  return j;
}

json listener_json(const config::listener& l) {
  json routes = json::array();
  for (const auto& r : l.routes) routes.push_back(route_json(r));
  json j;
  j["name"] = l.name;
  j["listen"] = l.listen.str();
  const bool tcp = l.proto == config::protocol::tcp;
  j["protocol"] = tcp ? "tcp" : "http";
  j["limits"] = {{"max_connections", l.limits.max_connections},
                 {"header_timeout", dur(l.limits.header_timeout)},
                 {"idle_timeout", dur(l.limits.idle_timeout)},
                 {"max_header_bytes", l.limits.max_header_bytes},
                 {"max_body_bytes", l.limits.max_body_bytes}};
  if (!tcp) {
    j["limits"]["max_headers"] = l.limits.max_headers;
    j["limits"]["max_header_line_bytes"] = l.limits.max_header_line_bytes;
    j["limits"]["max_requests_per_connection"] = l.limits.max_requests_per_connection;
    j["limits"]["lingering_timeout"] = dur(l.limits.lingering_timeout);
  }
  j["routes"] = std::move(routes);
  if (tcp) {
    j["limits"]["half_close_timeout"] = dur(l.limits.half_close_timeout);
    j["pool"] = l.pool;
    j["splice"] = l.splice ? "auto" : "off";
  }
  if (l.accept_proxy) {
    json from = json::array();
    for (const auto& c : l.accept_proxy->from) from.push_back(cidr_text(c));
    j["accept_proxy_protocol"] = {{"from", std::move(from)}, {"timeout", dur(l.accept_proxy->timeout)}};
  }
  if (const auto& cl = l.client_limits) {
    json allow = json::array();
    for (const auto& c : cl->allowlist) allow.push_back(cidr_text(c));
    j["client_limits"] = {{"connections", cl->connections},
                          {"connections_per_second", cl->connections_per_second},
                          {"allowlist", std::move(allow)},
                          {"table_size", cl->table_size}};
    if (!tcp) {
      j["client_limits"]["requests_per_second"] = cl->requests_per_second;
      j["client_limits"]["burst"] = cl->burst;
    }
  }
  return j;
}

json pool_json(const config::pool& p) {
  json endpoints = json::array();
  for (const auto& e : p.endpoints) endpoints.push_back({{"address", e.addr.str()}, {"weight", e.weight}});
  json j;
  j["name"] = p.name;
  j["balancer"] = config::balancer_name(p.balancer);
  // Only the hash balancers read it (the loader refuses it elsewhere).
  j["hash_key"] = config::is_hash_balancer(p.balancer) ? json(hash_key_text(p.hash_key)) : json(nullptr);
  j["endpoints"] = std::move(endpoints);
  j["dns_refresh"] = dur(p.dns_refresh);
  j["connect_timeout"] = dur(p.connect_timeout);
  j["keepalive"] = {{"max_idle", p.keepalive.max_idle}, {"idle_timeout", dur(p.keepalive.idle_timeout)}};
  j["max_connections_per_endpoint"] = p.max_connections_per_endpoint;
  if (p.health_check) {
    const auto& h = *p.health_check;
    json hc;
    hc["type"] = h.type == config::health_check::kind::http ? "http" : "tcp";
    if (h.type == config::health_check::kind::http) {
      hc["path"] = h.path;
      hc["host"] = h.host.empty() ? json(nullptr) : json(h.host);
      hc["expect_status"] = h.expect_status_min == h.expect_status_max
                                ? std::to_string(h.expect_status_min)
                                : std::to_string(h.expect_status_min) + "-" + std::to_string(h.expect_status_max);
    }
    hc["interval"] = dur(h.interval);
    hc["timeout"] = dur(h.timeout);
    hc["healthy_threshold"] = h.healthy_threshold;
    hc["unhealthy_threshold"] = h.unhealthy_threshold;
    j["health_check"] = std::move(hc);
  } else {
    j["health_check"] = nullptr;
  }
  if (p.outlier) {
    j["outlier"] = {{"consecutive_failures", p.outlier->consecutive_failures},
                    {"base_ejection", dur(p.outlier->base_ejection)},
                    {"max_ejected_percent", p.outlier->max_ejected_percent}};
  } else {
    j["outlier"] = nullptr;
  }
  j["slow_start"] = dur(p.slow_start);
  j["proxy_protocol"] = p.proxy_protocol == config::proxy_version::v1   ? json("v1")
                        : p.proxy_protocol == config::proxy_version::v2 ? json("v2")
                                                                        : json(nullptr);
  if (const auto& a = p.affinity) {
    j["affinity"] = {{"cookie", a->name},
                     {"path", a->path},
                     {"domain", a->domain.empty() ? json(nullptr) : json(a->domain)},
                     {"max_age", a->max_age.count() != 0 ? json(dur(a->max_age)) : json(nullptr)},
                     {"secure", a->secure},
                     {"http_only", a->http_only},
                     {"same_site", a->same_site.empty() ? json(nullptr) : json(a->same_site)}};
  } else {
    j["affinity"] = nullptr;
  }
  return j;
}

}  // namespace

std::string render_config(const runtime::snapshot& snap) {
  const auto& c = *snap.cfg;
  json listeners = json::array();
  for (const auto& l : c.listeners) listeners.push_back(listener_json(l));
  json pools = json::array();
  for (const auto& p : c.pools) pools.push_back(pool_json(p));

  json access_log;
  switch (c.access_log.type) {
    case config::access_log::kind::off: access_log["path"] = "off"; break;
    case config::access_log::kind::stdout_: access_log["path"] = "stdout"; break;
    case config::access_log::kind::file: access_log["path"] = c.access_log.path; break;
  }
  access_log["format"] = "json";

  json j;
  j["version"] = snap.version;
  j["loaded_at"] = rfc3339_utc(snap.loaded_at_unix_ms);
  j["source"] = c.source;
  j["workers"] = c.workers == 0 ? json("auto") : json(c.workers);
  j["drain_timeout"] = dur(c.drain_timeout);
  j["limits"] = {{"memory_high", c.limits.memory_high}};
  j["admin"] = {{"listen", c.admin.listen ? json(c.admin.listen->str()) : json(nullptr)}};
  // The file's path is shown, its content (the token) never.
  if (!c.admin.token_file.empty()) j["admin"]["token_file"] = c.admin.token_file;
  j["access_log"] = std::move(access_log);
  j["listeners"] = std::move(listeners);
  j["pools"] = std::move(pools);
  return j.dump(2) + "\n";
}

std::string render_pools(const runtime::snapshot& snap) {
  const auto now = upstream::ticks(upstream::clock::now());
  json pools = json::array();
  for (const auto& ps : snap.pools) {
    json endpoints = json::array();
    for (std::size_t e = 0; e < ps.live.size(); ++e) {
      endpoints.push_back(endpoint_state(ps, e, now));
    }
    json p;
    p["name"] = ps.cfg->name;
    p["balancer"] = config::balancer_name(ps.cfg->balancer);
    p["endpoints"] = std::move(endpoints);
    pools.push_back(std::move(p));
  }
  json j;
  j["version"] = snap.version;
  j["pools"] = std::move(pools);
  return j.dump(2) + "\n";
}

}  // namespace lb::admin
