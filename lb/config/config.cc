#include "lb/config/config.h"

#include <utility>

namespace lb::config {
namespace {

constexpr std::pair<std::string_view, balancer_kind> balancers[] = {
    {"round_robin", balancer_kind::round_robin}, {"least_conn", balancer_kind::least_conn},
    {"least_request", balancer_kind::least_request}, {"random", balancer_kind::random},
    {"ip_hash", balancer_kind::ip_hash}, {"ring_hash", balancer_kind::ring_hash},
    {"maglev", balancer_kind::maglev}};

}  // namespace

std::string address::str() const {
  // A ':' in the host can only be an IPv6 literal, which needs its brackets back.
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::string_view balancer_name(balancer_kind k) {
  for (const auto& [name, kind] : balancers) {
    if (kind == k) return name;
  }
  return "?";
}

std::optional<balancer_kind> balancer_from_name(std::string_view name) {
  for (const auto& [n, kind] : balancers) {
    if (n == name) return kind;
  }
  return std::nullopt;
}

std::vector<std::string_view> balancer_names() {
  std::vector<std::string_view> out;
  for (const auto& [name, kind] : balancers) out.push_back(name);
  return out;
}

}  // namespace lb::config

namespace lb::config {

bool differs_in_pools_only(const config& prev, const config& next) {
  // Every member of `config` but `pools`, compared whole.
  if (prev.source != next.source || prev.workers != next.workers || prev.drain_timeout != next.drain_timeout ||
      prev.admin != next.admin || prev.access_log != next.access_log || prev.listeners != next.listeners ||
      prev.tls != next.tls || prev.metrics != next.metrics || prev.kubernetes != next.kubernetes ||
      prev.limits != next.limits)
    return false;
  if (prev.pools.size() != next.pools.size()) return false;
  for (std::size_t i = 0; i < prev.pools.size(); ++i)
    if (prev.pools[i].name != next.pools[i].name) return false;
  return true;
}

}  // namespace lb::config
