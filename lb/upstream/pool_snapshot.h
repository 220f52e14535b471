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
#include "lb/upstream/live.h"

namespace lb::upstream {

struct pool_snapshot {
  const config::pool* cfg = nullptr;
  // One entry per endpoint; a hostname endpoint contributes one per address
  // it resolves to, labelled "host:port@ip" so metrics tell them apart.
  std::vector<boost::asio::ip::tcp::endpoint> addrs;
  std::vector<std::string> labels;                    // "host:port" as configured (or "host:port@ip")
  std::vector<std::uint32_t> weights;                 // configured
  std::vector<std::shared_ptr<endpoint_live>> live;  // parallel to addrs
  std::shared_ptr<pool_live> stats;
  std::shared_ptr<const balancer::balancer_snapshot> balancer;
};

}  // namespace lb::upstream
