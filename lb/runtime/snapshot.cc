#include "lb/runtime/snapshot.h"

#include <algorithm>
#include <chrono>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>

#include "lb/upstream/affinity.h"

namespace lb::runtime {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// Thread: control. Blocking resolution is acceptable here, never on a worker.
bool resolve(tcp::resolver& resolver, const config::address& a, dns_cache& dns, std::vector<tcp::endpoint>& out,
             std::string& error) {
  boost::system::error_code ec;
  if (!a.is_hostname) {
    out = {tcp::endpoint(asio::ip::make_address(a.host, ec), a.port)};
  } else if (auto it = dns.find(a.str()); it != dns.end()) {
    out = it->second;
  } else {
    auto results = resolver.resolve(a.host, std::to_string(a.port), ec);
    if (!ec && results.empty()) ec = asio::error::host_not_found;
    out.clear();
    if (!ec) {
      for (const auto& r : results)
        if (std::find(out.begin(), out.end(), r.endpoint()) == out.end()) out.push_back(r.endpoint());
      std::sort(out.begin(), out.end());
      dns[a.str()] = out;
    }
  }
  if (ec) error = ec.message();
  return !ec;
}

}  // namespace

std::optional<std::size_t> find_listener(const snapshot& snap, const upstream::listener_live* live) {
  for (std::size_t i = 0; i < snap.listeners.size(); ++i)
    if (snap.listeners[i].live.get() == live) return i;
  return std::nullopt;
}

std::string endpoint_text(const tcp::endpoint& ep) {
  const auto host = ep.address().to_string();
  return (ep.address().is_v6() ? "[" + host + "]" : host) + ":" + std::to_string(ep.port());
}

std::shared_ptr<const snapshot> build_snapshot(std::shared_ptr<const config::config> cfg, std::uint64_t version,
                                               upstream::live_registry& registry,
                                               std::vector<std::string>& errors) {
  dns_cache dns;
  // Contexts keep a pointer to their ticket keys: these live as long as the process.
  static tls::ticket_keys keys;
  tls::context_cache cache(keys);
  return build_snapshot(std::move(cfg), version, registry, dns, cache, errors);
}

namespace {

std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::shared_ptr<const listener_set> build_listeners(const std::shared_ptr<const config::config>& cfg,
                                                    upstream::live_registry& registry, tls::context_cache& tls,
                                                    std::vector<std::string>& errors) {
  auto set = std::make_shared<listener_set>();
  set->cfg = cfg;
  const auto buckets = metrics::bucket_bounds::of(cfg->metrics.request_duration_buckets);
  for (const auto& l : cfg->listeners) {
    listener_snapshot ls{&l, router::table(l.routes), registry.listener(l.name), {}, {}, {}, "http", {}};
    for (const auto& r : l.routes) ls.route_stats.push_back(registry.route(l.name, r.name, buckets));
    if (!l.tcp_routes.empty()) ls.sni = proto::tcp::sni_router(l.tcp_routes);
    try {
      ls.path = listener::path_for(l);
    } catch (const std::exception& x) {
      errors.push_back(x.what());
    }
    if (l.tls) {
      ls.tls = tls::build_server_contexts(*l.tls, tls, errors);
      ls.scheme = "https";
    }
    set->items.push_back(std::move(ls));
  }
  return set;
}

// One pool; its `cfg` points into *owner, which it keeps alive.
std::shared_ptr<const pool_snapshot> build_pool(std::shared_ptr<const config::pool> owner,
                                                upstream::live_registry& registry, tcp::resolver& resolver,
                                                dns_cache& dns, std::vector<std::string>& errors) {
  const auto& p = *owner;
  auto ps = std::make_shared<pool_snapshot>();
  ps->cfg = &p;
  ps->cfg_owner = std::move(owner);
  ps->stats = registry.pool(p.name);
  for (const auto& e : p.endpoints) {
    std::vector<tcp::endpoint> eps;
    std::string error;
    const auto name = e.addr.str();
    if (!resolve(resolver, e.addr, dns, eps, error)) {
      errors.push_back("pool '" + p.name + "': cannot resolve endpoint '" + name + "': " + error);
      continue;
    }
    for (const auto& ep : eps) {
      const auto label = e.addr.is_hostname ? name + "@" + ep.address().to_string() : name;
      ps->addrs.push_back(ep);
      ps->labels.push_back(label);
      ps->weights.push_back(e.weight);
      ps->hosts.push_back(e.addr.host);
      ps->live.push_back(registry.endpoint(p.name, label));
      if (p.affinity) ps->affinity_ids.push_back(upstream::affinity_id(label));
    }
  }
  if (p.affinity) ps->affinity_attrs = upstream::affinity_attributes(*p.affinity);
  // A pool written without endpoints is valid (503s); one whose names
  // resolved to nothing is a mistake.
  if (ps->addrs.empty() && !p.endpoints.empty()) errors.push_back("pool '" + p.name + "': no endpoint address");
  if (p.tls) ps->tls = tls::build_client_context(*p.tls, errors, p.protocol == config::upstream_protocol::h2);
  try {
    ps->balancer = registry.balancers().get(p.name, p.balancer, ps->weights, ps->labels);
  } catch (const std::exception& x) {
    errors.push_back("pool '" + p.name + "': " + x.what());
  }
  return ps;
}

}  // namespace

std::shared_ptr<const snapshot> build_snapshot(std::shared_ptr<const config::config> cfg, std::uint64_t version,
                                               upstream::live_registry& registry, dns_cache& dns,
                                               tls::context_cache& tls, std::vector<std::string>& errors) {
  registry.start_build();
  auto snap = std::make_shared<snapshot>();
  snap->cfg = cfg;
  snap->version = version;
  snap->loaded_at_unix_ms = unix_ms_now();
  snap->listeners = listener_list(build_listeners(cfg, registry, tls, errors));
  asio::io_context io;
  tcp::resolver resolver(io);
  snap->pools.reserve(cfg->pools.size());
  // Each pool keeps the whole config alive (aliasing: no copy).
  for (const auto& p : cfg->pools)
    snap->pools.push_back(build_pool(std::shared_ptr<const config::pool>(cfg, &p), registry, resolver, dns, errors));
  if (!errors.empty()) return nullptr;
  tls.trim();
  return snap;
}

std::shared_ptr<const snapshot> republish_pools(const snapshot& prev, std::shared_ptr<const config::config> cfg,
                                                std::uint64_t version, upstream::live_registry& registry,
                                                dns_cache& dns, std::vector<std::string>& rebuilt,
                                                std::vector<std::string>& errors) {
  registry.start_build();
  auto snap = std::make_shared<snapshot>();
  snap->cfg = cfg;
  snap->version = version;
  snap->loaded_at_unix_ms = unix_ms_now();
  snap->listeners = prev.listeners;
  asio::io_context io;
  tcp::resolver resolver(io);
  snap->pools.reserve(cfg->pools.size());
  for (std::size_t i = 0; i < cfg->pools.size(); ++i) {
    const auto& p = cfg->pools[i];
    const bool named = std::any_of(p.endpoints.begin(), p.endpoints.end(),
                                   [](const config::endpoint& e) { return e.addr.is_hostname; });
    if (!p.tls && !named && p == *prev.pools[i].cfg) {
      snap->pools.push_back(prev.pools.share(i));
      continue;
    }
    rebuilt.push_back(p.name);
    snap->pools.push_back(build_pool(std::make_shared<const config::pool>(p), registry, resolver, dns, errors));
  }
  if (!errors.empty()) return nullptr;
  return snap;
}

}  // namespace lb::runtime
