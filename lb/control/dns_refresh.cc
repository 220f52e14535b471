#include "lb/control/dns_refresh.h"

#include <algorithm>
#include <map>
#include <optional>
#include <string>

#include "lb/core/log.h"

namespace lb::control {

using tcp = boost::asio::ip::tcp;

void dns_refresh::schedule(std::shared_ptr<const config::config> cfg) {
  cfg_ = std::move(cfg);
  timer_.cancel();
  std::optional<config::duration> every;
  for (const auto& p : cfg_->pools)
    for (const auto& e : p.endpoints)
      if (e.addr.is_hostname) every = every ? std::min(*every, p.dns_refresh) : p.dns_refresh;
  if (!every || stopped_) return;
  timer_.expires_after(*every);
  timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) refresh();
  });
}

void dns_refresh::stop() {
  stopped_ = true;
  timer_.cancel();
  ++generation_;
}

void dns_refresh::refresh() {
  std::map<std::string, config::address> names;
  for (const auto& p : cfg_->pools)
    for (const auto& e : p.endpoints)
      if (e.addr.is_hostname) names.emplace(e.addr.str(), e.addr);
  auto fresh = std::make_shared<runtime::dns_cache>();
  auto pending = std::make_shared<std::size_t>(names.size());
  const auto generation = ++generation_;
  for (const auto& [key, addr] : names) {
    resolver_.async_resolve(addr.host, std::to_string(addr.port),
                            [this, key = key, fresh, pending, generation](boost::system::error_code ec,
                                                                          tcp::resolver::results_type results) {
                              if (generation != generation_) return;  // stopped meanwhile
                              if (!ec) {
                                auto& v = (*fresh)[key];
                                for (const auto& r : results)
                                  if (std::find(v.begin(), v.end(), r.endpoint()) == v.end()) v.push_back(r.endpoint());
                                std::sort(v.begin(), v.end());
                              } else {
                                log::warn("dns refresh failed: keeping the last addresses",
                                          {{"endpoint", key}, {"error", ec.message()}});
                              }
                              if (--*pending == 0) done(*fresh);
                            });
  }
}

void dns_refresh::done(const runtime::dns_cache& fresh) {
  bool changed = false;
  for (const auto& [key, addrs] : fresh) {
    if (addrs.empty() || cache_[key] == addrs) continue;
    std::string list;
    for (const auto& a : addrs) {
      if (!list.empty()) list.push_back(',');
      list.append(runtime::endpoint_text(a));
    }
    log::info("dns changed", {{"endpoint", key}, {"addresses", list}});
    cache_[key] = addrs;
    changed = true;
  }
  if (changed && !stopped_) changed_();
  schedule(cfg_);
}

}  // namespace lb::control
