#pragma once
// Balancer snapshots by pool, kept from one build to the next: a reload
// builds new tables only for the pools whose endpoints or weights changed.
// A Maglev table is 128 KiB and takes about a millisecond to fill; with
// 1,000 pools every reload rebuilt 128 MB of them, most of its time, and the
// old and new sets were alive at once while workers switched.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lb/balancer/balancer.h"

namespace lb::balancer {

class table_cache {
 public:
  // Thread: control. The pool's balancer snapshot: the one handed out last
  // time when kind, weights and ids are the same, else a new one (which may
  // throw, as balancer_snapshot's constructor does).
  std::shared_ptr<const balancer_snapshot> get(const std::string& pool, config::balancer_kind kind,
                                               const std::vector<std::uint32_t>& weights,
                                               const std::vector<std::string>& ids);
  // Thread: control. Forgets the pools not asked for since the last call.
  void retain_only_used();

  std::size_t size() const { return by_pool_.size(); }

 private:
  struct entry {
    std::string key;  // what the snapshot was built from
    std::shared_ptr<const balancer_snapshot> snap;
    bool used = false;
  };
  std::map<std::string, entry> by_pool_;
};

}  // namespace lb::balancer
