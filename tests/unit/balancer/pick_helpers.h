#pragma once
// Shared by the balancer tests: a pool's live view, and pick tallies.

#include <cstdint>
#include <string>
#include <vector>

#include "lb/balancer/balancer.h"

namespace lb::balancer::testing {

// What the data plane would hand to `pick`: effective weights and loads.
struct pool_view {
  std::vector<std::uint32_t> weight;
  std::vector<std::uint32_t> load;

  explicit pool_view(std::vector<std::uint32_t> w, std::vector<std::uint32_t> l = {})
      : weight(std::move(w)), load(l.empty() ? std::vector<std::uint32_t>(weight.size(), 0) : l) {}

  pick_request request(std::uint64_t hash = 0) const {
    return {weight.data(), load.data(), weight.size(), hash};
  }
};

// Picks per endpoint over `n` picks (a -1 fails the test at the call site).
inline std::vector<std::size_t> tally(balancer& b, const pool_view& v, std::size_t n,
                                      std::size_t* misses = nullptr) {
  std::vector<std::size_t> counts(v.weight.size());
  for (std::size_t i = 0; i < n; ++i) {
    const int p = b.pick(v.request());
    if (p < 0) {
      if (misses) ++*misses;
      continue;
    }
    ++counts.at(static_cast<std::size_t>(p));
  }
  return counts;
}

// Share each weight is owed.
inline std::vector<double> expected_shares(const std::vector<std::uint32_t>& w) {
  double total = 0;
  for (auto x : w) total += x;
  std::vector<double> out;
  for (auto x : w) out.push_back(x / total);
  return out;
}

// Stable endpoint ids "10.0.0.<i>:80".
inline std::vector<std::string> ids(std::size_t n) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back("10.0.0." + std::to_string(i + 1) + ":80");
  return out;
}

// Hashes of keys "client-<k>": what a hash balancer sees for distinct clients.
inline std::vector<std::uint64_t> key_hashes(std::size_t n) {
  std::vector<std::uint64_t> out;
  out.reserve(n);
  for (std::size_t k = 0; k < n; ++k) out.push_back(hash_key("client-" + std::to_string(k)));
  return out;
}

// The id of the endpoint each key lands on ("" when the pick fails).
inline std::vector<std::string> owners(balancer& b, const std::vector<std::string>& endpoint_ids,
                                       const pool_view& v,
                                       const std::vector<std::uint64_t>& hashes) {
  std::vector<std::string> out;
  out.reserve(hashes.size());
  for (auto h : hashes) {
    const int p = b.pick(v.request(h));
    out.push_back(p < 0 ? std::string() : endpoint_ids.at(static_cast<std::size_t>(p)));
  }
  return out;
}

// How many keys land on a different endpoint in `b` than in `a`.
inline std::size_t moved(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < a.size(); ++i) n += a[i] != b[i];
  return n;
}

}  // namespace lb::balancer::testing
