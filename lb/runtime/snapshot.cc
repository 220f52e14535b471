#include "lb/runtime/snapshot.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>

namespace lb::runtime {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

std::shared_ptr<const snapshot> build_snapshot(std::shared_ptr<const config::config> cfg,
                                               std::uint64_t version,
                                               std::vector<std::string>& errors) {
  auto snap = std::make_shared<snapshot>();
  snap->cfg = cfg;
  snap->version = version;
  for (const auto& l : cfg->listeners) snap->listeners.push_back({&l, router::table(l.routes)});

  asio::io_context io;
  tcp::resolver resolver(io);
  for (const auto& p : cfg->pools) {
    pool_snapshot ps;
    ps.cfg = &p;
    for (const auto& e : p.endpoints) {
      boost::system::error_code ec;
      tcp::endpoint ep;
      if (!e.addr.is_hostname) {
        ep = tcp::endpoint(asio::ip::make_address(e.addr.host, ec), e.addr.port);
      } else {
        auto results = resolver.resolve(e.addr.host, std::to_string(e.addr.port), ec);
        if (!ec && !results.empty()) ep = results.begin()->endpoint();
        else if (!ec) ec = asio::error::host_not_found;
      }
      if (ec) {
        errors.push_back("pool '" + p.name + "': cannot resolve endpoint '" + e.addr.str() +
                         "': " + ec.message());
        continue;
      }
      ps.addrs.push_back(ep);
      ps.labels.push_back(e.addr.str());
      ps.weights.push_back(e.weight);
    }
    snap->pools.push_back(std::move(ps));
  }
  if (!errors.empty()) return nullptr;
  return snap;
}

}  // namespace lb::runtime
