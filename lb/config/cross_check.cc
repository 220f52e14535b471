#include "lb/config/cross_check.h"

#include <map>
#include <string>
#include <string_view>

namespace lb::config {
namespace {

// `items` are listeners, pools or routes: each has a `name` and a `name_pos`.
template <class T>
void check_unique_names(const std::vector<T>& items, std::string_view what,
                        std::vector<diagnostic>& out) {
  std::map<std::string_view, const source_pos*> seen;
  for (const auto& item : items) {
    if (item.name.empty()) continue;
    auto [it, fresh] = seen.emplace(item.name, &item.name_pos);
    if (!fresh) {
      out.push_back(diagnostic::at(
          item.name_pos, "duplicate " + std::string(what) + " name '" + item.name +
                             "' (first used on line " + std::to_string(it->second->line) + ")"));
    }
  }
}

void check_listen_addresses(const config& cfg, std::vector<diagnostic>& out) {
  // Two listeners on one address would both bind it (SO_REUSEPORT) and
  // silently split its traffic. Port 0 asks the kernel for a fresh port each time.
  std::map<std::string, const listener*> seen;
  for (const auto& l : cfg.listeners) {
    if (l.listen.port == 0) continue;
    auto [it, fresh] = seen.emplace(l.listen.str(), &l);
    if (!fresh) {
      out.push_back(diagnostic::at(l.listen_pos, "listen address " + l.listen.str() +
                                                     " is already used by listener '" +
                                                     it->second->name + "'"));
    }
  }
  if (cfg.admin.listen && cfg.admin.listen->port != 0) {
    const auto it = seen.find(cfg.admin.listen->str());
    if (it != seen.end()) {
      out.push_back(diagnostic::at(cfg.admin.listen_pos,
                                   "admin listen address " + cfg.admin.listen->str() +
                                       " is already used by listener '" + it->second->name +
                                       "'"));
    }
  }
}

// A TCP listener moves bytes: it cannot speak HTTP/2 to a pool's endpoints,
// nor read or set an affinity cookie.
void refuse_http_pool(const pool& p, const source_pos& at, const std::string& who, std::vector<diagnostic>& out) {
  if (p.protocol != upstream_protocol::h1)
    out.push_back(diagnostic::at(at, who + " forwards TCP to pool '" + p.name + "', whose 'protocol: " +
                                         (p.protocol == upstream_protocol::h2 ? "h2" : "h2c") +
                                         "' only HTTP routes may use"));
  if (p.affinity)
    out.push_back(diagnostic::at(at, who + " forwards TCP to pool '" + p.name +
                                         "', whose 'affinity' cookie only HTTP routes may use"));
}

void resolve_pools(config& cfg, std::vector<diagnostic>& out) {
  std::map<std::string_view, std::size_t> index;
  for (std::size_t i = 0; i < cfg.pools.size(); ++i) {
    if (!cfg.pools[i].name.empty()) index.emplace(cfg.pools[i].name, i);
  }
  for (auto& l : cfg.listeners) {
    if (l.proto == protocol::tcp && !l.pool.empty()) {
      const auto it = index.find(l.pool);
      if (it == index.end()) {
        out.push_back(diagnostic::at(l.pool_pos, "listener '" + l.name + "' names unknown pool '" + l.pool + "'"));
      } else {
        l.pool_index = it->second;
        refuse_http_pool(cfg.pools[it->second], l.pool_pos, "listener '" + l.name + "'", out);
      }
    }
    bool sni_hash = l.proto == protocol::tcp && !l.pool.empty() && index.count(l.pool) &&
                    cfg.pools[index.at(l.pool)].hash_key.type == hash_key::kind::sni;
    for (auto& r : l.tcp_routes) {
      if (r.pool.empty()) continue;
      const auto it = index.find(r.pool);
      if (it == index.end()) {
        out.push_back(diagnostic::at(r.pool_pos, "route '" + r.name + "' names unknown pool '" + r.pool + "'"));
        continue;
      }
      r.pool_index = it->second;
      refuse_http_pool(cfg.pools[it->second], r.pool_pos, "route '" + r.name + "'", out);
      sni_hash = sni_hash || cfg.pools[it->second].hash_key.type == hash_key::kind::sni;
    }
    // A `tls:` listener terminates: its SNI comes from the handshake instead.
    l.peek_sni = (!l.tcp_routes.empty() || sni_hash) && !l.tls;
    for (auto& r : l.routes) {
      if (r.pool.empty()) continue;
      const auto it = index.find(r.pool);
      if (it == index.end()) {
        out.push_back(diagnostic::at(
            r.pool_pos, "route '" + r.name + "' names unknown pool '" + r.pool + "'"));
        continue;
      }
      r.pool_index = it->second;
      // An HTTP upstream connection is pooled and serves many clients: one
      // PROXY header at its start would name the first of them for all.
      const auto& p = cfg.pools[it->second];
      if (is_hash_balancer(p.balancer) && p.hash_key.type == hash_key::kind::sni) {
        out.push_back(diagnostic::at(r.pool_pos, "route '" + r.name + "' sends HTTP to pool '" + p.name +
                                                     "', which hashes by 'sni' (only tcp listeners read it)"));
      }
      if (p.proxy_protocol != proxy_version::none) {
        out.push_back(diagnostic::at(r.pool_pos, "route '" + r.name + "' sends HTTP to pool '" + p.name +
                                                     "', which has 'proxy_protocol' (only tcp listeners may use it)"));
      }
    }
  }
}

}  // namespace

std::vector<diagnostic> cross_check(config& cfg) {
  std::vector<diagnostic> out;
  check_unique_names(cfg.listeners, "listener", out);
  check_unique_names(cfg.pools, "pool", out);
  for (const auto& l : cfg.listeners) {
    check_unique_names(l.routes, "route", out);
    check_unique_names(l.tcp_routes, "route", out);
  }
  check_listen_addresses(cfg, out);
  resolve_pools(cfg, out);
  return out;
}

}  // namespace lb::config
