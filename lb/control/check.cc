#include "lb/control/app.h"

#include <iostream>

#include <boost/asio/ip/address.hpp>

#include "lb/control/compile.h"
#include "lb/control/fd_budget.h"

namespace lb::control {

int check(config::config_source& source, bool resolve) {
  upstream::live_registry registry(1);
  tls::ticket_keys keys;
  tls::context_cache cache(keys);
  const auto loaded = source.load();
  // --no-resolve: hostnames count as resolved (to a documentation address),
  // for checking a config away from the network it will run in (a Helm
  // chart's Service names at render time).
  runtime::dns_cache seed;
  if (!resolve && loaded.cfg)
    for (const auto& p : loaded.cfg->pools)
      for (const auto& e : p.endpoints)
        if (e.addr.is_hostname) seed[e.addr.str()] = {boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("192.0.2.1"), e.addr.port)};
  const auto outcome = compile(loaded, source.describe(), 1, registry, cache, std::move(seed));
  for (const auto& e : outcome.errors) std::cerr << e << '\n';
  if (!outcome.snap) return 1;
  // lb raises its soft limit to the hard one when it starts: check against that.
  if (auto e = fd_budget_error(*outcome.snap->cfg, worker_count(*outcome.snap->cfg), current_fd_limits().hard)) {
    std::cerr << *e << '\n';
    return 1;
  }
  std::cout << source.describe() << ": configuration is valid\n";
  return 0;
}

}  // namespace lb::control
