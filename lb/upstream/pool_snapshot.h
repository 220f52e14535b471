#pragma once
// One pool as the workers see it for the life of a config snapshot: its
// endpoints' addresses, labels and weights, the live objects (health, load,
// counters) that outlast the snapshot, and the balancer's tables built once.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "lb/balancer/balancer.h"
#include "lb/config/config.h"
#include "lb/tls/client_context.h"
#include "lb/upstream/live.h"

namespace lb::upstream {

struct pool_snapshot {
  const config::pool* cfg = nullptr;
  // Keeps *cfg alive: the whole config of a full build, or a copy of the
  // pool alone when republish_pools built it (a republished config held by
  // one of its pools would keep every older config alive with it).
  std::shared_ptr<const config::pool> cfg_owner;
  // One entry per endpoint; a hostname endpoint contributes one per address
  // it resolves to, labelled "host:port@ip" so metrics tell them apart.
  std::vector<boost::asio::ip::tcp::endpoint> addrs;
  std::vector<std::string> labels;                    // "host:port" as configured (or "host:port@ip")
  std::vector<std::uint32_t> weights;                 // configured
  std::vector<std::shared_ptr<endpoint_live>> live;  // parallel to addrs
  std::shared_ptr<pool_live> stats;
  std::shared_ptr<const balancer::balancer_snapshot> balancer;
  // Upstream TLS (`tls:` on the pool): null for plain TCP. `hosts` is each
  // endpoint's configured host (parallel to addrs), its SNI and verified name.
  std::shared_ptr<const tls::client_context> tls;
  std::vector<std::string> hosts;
  // `affinity:` each endpoint's cookie id (parallel to addrs) and the
  // Set-Cookie attributes that follow the value; empty without affinity.
  std::vector<std::uint64_t> affinity_ids;
  std::string affinity_attrs;
};

}  // namespace lb::upstream
