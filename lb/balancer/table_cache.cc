#include "lb/balancer/table_cache.h"

namespace lb::balancer {

std::shared_ptr<const balancer_snapshot> table_cache::get(const std::string& pool, config::balancer_kind kind,
                                                          const std::vector<std::uint32_t>& weights,
                                                          const std::vector<std::string>& ids) {
  std::string key(1, static_cast<char>(kind));
  for (const auto& id : ids) key.append(id).push_back('\0');
  for (const auto w : weights) key.append(std::to_string(w)).push_back(',');
  auto& e = by_pool_[pool];
  if (!e.snap || e.key != key) {
    auto snap = std::make_shared<const balancer_snapshot>(kind, weights, ids);
    e.key = std::move(key);
    e.snap = std::move(snap);
  }
  e.used = true;
  return e.snap;
}

void table_cache::retain_only_used() {
  for (auto it = by_pool_.begin(); it != by_pool_.end();) {
    if (!it->second.used) {
      it = by_pool_.erase(it);
    } else {
      it->second.used = false;
      ++it;
    }
  }
}

}  // namespace lb::balancer
