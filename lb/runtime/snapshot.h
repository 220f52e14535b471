#pragma once
// The compiled, immutable form of a config that workers read on the hot path.
// Built on the control thread; shared by pointer; never mutated after build.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "lb/config/config.h"
#include "lb/router/table.h"

namespace lb::runtime {

struct pool_snapshot {
  const config::pool* cfg = nullptr;
  std::vector<boost::asio::ip::tcp::endpoint> addrs;  // one per configured endpoint
  std::vector<std::string> labels;                    // "host:port" as configured
  std::vector<std::uint32_t> weights;
};

struct listener_snapshot {
  const config::listener* cfg = nullptr;
  router::table routes;
};

struct snapshot {
  std::shared_ptr<const config::config> cfg;
  std::uint64_t version = 0;
  std::vector<listener_snapshot> listeners;  // same order as cfg->listeners
  std::vector<pool_snapshot> pools;          // same order as cfg->pools
};

// Thread: control (resolves endpoint hostnames, which blocks). On failure
// returns nullptr and appends one message per unresolvable endpoint.
std::shared_ptr<const snapshot> build_snapshot(std::shared_ptr<const config::config> cfg,
                                               std::uint64_t version,
                                               std::vector<std::string>& errors);

}  // namespace lb::runtime
