#include "lb/balancer/balancer.h"

#include <stdexcept>
#include <unordered_map>

#include "lb/balancer/least_conn.h"
#include "lb/balancer/least_request.h"
#include "lb/balancer/maglev.h"
#include "lb/balancer/random.h"
#include "lb/balancer/ring_hash.h"
#include "lb/balancer/round_robin_balancer.h"

namespace lb::balancer {

using config::balancer_kind;

namespace {

// A repeated id ("10.0.0.1:80" listed twice) would stack its points on the
// first copy's; the n-th repeat becomes "id#n" so each copy gets its own.
std::vector<std::string> distinct(const std::vector<std::string>& ids) {
  std::vector<std::string> out(ids);
  std::unordered_map<std::string, std::size_t> seen;
  for (auto& id : out) {
    const std::size_t n = seen[id]++;
    if (n > 0) id.append(1, '#').append(std::to_string(n));  // not "#" + ...: GCC 12 false -Wrestrict
  }
  return out;
}

std::vector<std::string> default_ids(std::size_t n) {
  std::vector<std::string> ids;
  ids.reserve(n);
  for (std::size_t i = 0; i < n; ++i) ids.push_back("ep" + std::to_string(i));
  return ids;
}

}  // namespace

balancer_snapshot::balancer_snapshot(balancer_kind kind, std::vector<std::uint32_t> weights,
                                     const std::vector<std::string>& ids)
    : kind_(kind), weights_(std::move(weights)) {
  if (ids.size() != weights_.size())
    throw std::invalid_argument("balancer: one id per endpoint expected");
  switch (kind_) {
    case balancer_kind::ip_hash:
    case balancer_kind::ring_hash:
      ring_ = std::make_shared<const hash_ring>(weights_, distinct(ids));
      break;
    case balancer_kind::maglev:
      maglev_ = std::make_shared<const maglev_table>(weights_, distinct(ids));
      break;
    default:
      break;
  }
}

balancer_snapshot::~balancer_snapshot() = default;

std::unique_ptr<balancer> balancer_snapshot::make(std::uint64_t seed) const {
  switch (kind_) {
    case balancer_kind::round_robin:
      return std::make_unique<round_robin_balancer>(weights_.size());
    case balancer_kind::least_conn:
      return std::make_unique<least_conn_balancer>(weights_.size());
    case balancer_kind::least_request:
      return std::make_unique<least_request_balancer>(seed);
    case balancer_kind::random:
      return std::make_unique<random_balancer>(seed);
    case balancer_kind::ip_hash:
    case balancer_kind::ring_hash:
      return std::make_unique<ring_hash_balancer>(ring_);
    case balancer_kind::maglev:
      return std::make_unique<maglev_balancer>(maglev_);
  }
  throw std::invalid_argument("balancer: unknown kind");
}

std::unique_ptr<balancer> make_balancer(balancer_kind kind,
                                        const std::vector<std::uint32_t>& weights,
                                        std::uint64_t seed) {
  return make_balancer(kind, weights, seed, default_ids(weights.size()));
}

std::unique_ptr<balancer> make_balancer(balancer_kind kind,
                                        const std::vector<std::uint32_t>& weights,
                                        std::uint64_t seed, const std::vector<std::string>& ids) {
  return balancer_snapshot(kind, weights, ids).make(seed);
}

}  // namespace lb::balancer
