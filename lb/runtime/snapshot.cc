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

std::shared_ptr<const snapshot> build_snapshot(std::shared_ptr<const config::config> cfg, std::uint64_t version,
                                               upstream::live_registry& registry, dns_cache& dns,
                                               tls::context_cache& tls, std::vector<std::string>& errors) {
  auto snap = std::make_shared<snapshot>();
  snap->cfg = cfg;
  snap->version = version;
  snap->loaded_at_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
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
    snap->listeners.push_back(std::move(ls));
  }

  asio::io_context io;
  tcp::resolver resolver(io);
  for (const auto& p : cfg->pools) {
    pool_snapshot ps;
    ps.cfg = &p;
    ps.stats = registry.pool(p.name);
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
        ps.addrs.push_back(ep);
        ps.labels.push_back(label);
        ps.weights.push_back(e.weight);
        ps.hosts.push_back(e.addr.host);
        ps.live.push_back(registry.endpoint(p.name, label));
        if (p.affinity) ps.affinity_ids.push_back(upstream::affinity_id(label));
      }
    }
    if (p.affinity) ps.affinity_attrs = upstream::affinity_attributes(*p.affinity);
    // A pool written without endpoints is valid (503s); one whose names
    // resolved to nothing is a mistake.
    if (ps.addrs.empty() && !p.endpoints.empty()) errors.push_back("pool '" + p.name + "': no endpoint address");
    if (p.tls) ps.tls = tls::build_client_context(*p.tls, errors, p.protocol == config::upstream_protocol::h2);
    try {
      ps.balancer = registry.balancers().get(p.name, p.balancer, ps.weights, ps.labels);
    } catch (const std::exception& x) {
      errors.push_back("pool '" + p.name + "': " + x.what());
    }
    snap->pools.push_back(std::move(ps));
  }
  if (!errors.empty()) return nullptr;
  tls.trim();
  return snap;
}

}  // namespace lb::runtime
