#pragma once
// The compiled, immutable form of a config that workers read on the hot path,
// plus pointers to the live objects (health, load, counters) that outlast it.
// Built on the control thread; shared by pointer; never mutated after build.

#include <cstdint>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "lb/balancer/balancer.h"
#include "lb/config/config.h"
#include "lb/core/shared_list.h"
#include "lb/listener/plane.h"
#include "lb/proto/tcp/sni_router.h"
#include "lb/router/table.h"
#include "lb/tls/server_contexts.h"
#include "lb/upstream/live.h"
#include "lb/upstream/pool_snapshot.h"

namespace lb::runtime {

// Resolved addresses of hostname endpoints, by "host:port". The control
// thread fills it at load and refreshes it every dns_refresh.
using dns_cache = std::map<std::string, std::vector<boost::asio::ip::tcp::endpoint>>;


using upstream::pool_snapshot;

struct listener_snapshot {
  const config::listener* cfg = nullptr;
  router::table routes;
  std::shared_ptr<upstream::listener_live> live;                  // stable across reloads by name
  std::vector<std::shared_ptr<upstream::route_live>> route_stats;  // parallel to cfg->routes
  listener::connection_path path;  // stages and plane for its connections
  std::shared_ptr<const tls::server_contexts> tls;  // set for a `tls:` listener
  std::string_view scheme = "http";  // what X-Forwarded-Proto tells upstreams ("https" with TLS)
  proto::tcp::sni_router sni;        // a TCP listener's SNI routes (cfg->tcp_routes)
};

// A snapshot's listeners, compiled together from one config, which they
// point into and keep alive. A snapshot that changes pools alone shares its
// predecessor's: routers, SNI routers and TLS contexts are not built again.
struct listener_set {
  std::shared_ptr<const config::config> cfg;
  std::vector<listener_snapshot> items;
};

class listener_list {
 public:
  listener_list() : set_(std::make_shared<const listener_set>()) {}
  explicit listener_list(std::shared_ptr<const listener_set> set) : set_(std::move(set)) {}
  const listener_snapshot& operator[](std::size_t i) const { return set_->items[i]; }
  std::size_t size() const { return set_->items.size(); }
  auto begin() const { return set_->items.begin(); }
  auto end() const { return set_->items.end(); }
  const std::shared_ptr<const listener_set>& share() const { return set_; }

 private:
  std::shared_ptr<const listener_set> set_;
};

struct snapshot {
  std::shared_ptr<const config::config> cfg;
  std::uint64_t version = 0;
  std::int64_t loaded_at_unix_ms = 0;
  // Same order as cfg->listeners and equal to them, though they may point
  // into an earlier config (one that differed in pools alone).
  listener_list listeners;
  // Same order as cfg->pools. Each points into a config::pool it keeps alive
  // (`pool_snapshot::cfg_owner`): pools a republish did not touch are its
  // predecessor's, by pointer.
  shared_list<const pool_snapshot> pools;
};

// Thread: any. The index of the listener counted by `live` in `snap`, if it
// is there (a reload keeps a listener's live object by name).
std::optional<std::size_t> find_listener(const snapshot& snap, const upstream::listener_live* live);

// "host:port", with brackets for IPv6: how endpoints appear in logs and JSON.
std::string endpoint_text(const boost::asio::ip::tcp::endpoint& ep);

// Thread: control. Takes live objects from `registry` by name. Hostname
// endpoints come from `dns`; those missing there are resolved now (blocking,
// acceptable on the control thread only) and added to it. TLS contexts come
// from `tls` (reused while their files and settings are unchanged). On
// failure returns nullptr and appends one message per problem (problems with
// TLS files as "FILE:LINE:COL: message").
std::shared_ptr<const snapshot> build_snapshot(std::shared_ptr<const config::config> cfg, std::uint64_t version,
                                               upstream::live_registry& registry, dns_cache& dns,
                                               tls::context_cache& tls, std::vector<std::string>& errors);

// Thread: control. `cfg` differs from `prev->cfg` in its pools alone
// (config::differs_in_pools_only): a snapshot sharing prev's listeners and
// every pool whose config is unchanged, and building the others. As on any
// reload, pools with hostname endpoints are built again (their names
// resolved into `dns`, which should start empty: every hostname the config
// names is then in it), and so are pools with `tls:` (their files may have
// changed). Returns nullptr with `errors` on failure. Fills `rebuilt` with
// the names of the pools built.
std::shared_ptr<const snapshot> republish_pools(const snapshot& prev, std::shared_ptr<const config::config> cfg,
                                                std::uint64_t version, upstream::live_registry& registry,
                                                dns_cache& dns, std::vector<std::string>& rebuilt,
                                                std::vector<std::string>& errors);

// Same, with a throwaway cache (tests, --check).
std::shared_ptr<const snapshot> build_snapshot(std::shared_ptr<const config::config> cfg, std::uint64_t version,
                                               upstream::live_registry& registry,
                                               std::vector<std::string>& errors);

}  // namespace lb::runtime
