#pragma once
// The balancer interface: which endpoint of a pool serves this request.
//
// Pure logic: no sockets, no atomics, no config parsing. The caller (the
// worker's upstream code) owns the live state and describes it per pick in a
// `pick_request`; a balancer keeps only its own scheduling state (RR cursors,
// an RNG) plus, for the hash kinds, an immutable table shared by all workers.
//
// Ownership (STYLE §3): a `balancer_snapshot` is built once per pool snapshot
// on the control thread and shared read-only; each worker makes its own
// `balancer` from it and never shares it, so `pick` takes no lock. Algorithms
// and their anchors:
//   round_robin    nginx smooth weighted RR (ngx_http_upstream_round_robin.c)
//   least_conn     nginx least_conn (ngx_http_upstream_least_conn_module.c)
//   least_request  Envoy LeastRequest, power of two choices
//   random         weighted random
//   ip_hash,
//   ring_hash      ketama-style consistent hash ring (Envoy RingHash)
//   maglev         Maglev lookup table (Envoy MaglevTable, Katran CHHelpers)

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lb/config/config.h"

namespace lb::balancer {

class hash_ring;     // ring_hash.h
class maglev_table;  // maglev.h

// One pick's view of the pool, built by the caller per request. The arrays
// have `count` entries in config order and are read only during `pick`.
struct pick_request {
  // Per endpoint: effective weight now (after slow start); 0 = not eligible
  // (unhealthy, ejected, already tried, or full). Hash kinds use it only as
  // eligibility: their placement follows the configured weights.
  const std::uint32_t* weight = nullptr;
  // Per endpoint: requests in flight, read by least_request and least_conn
  // (idle keep-alive connections are not load). May be null: all loads are
  // then 0. Ignored by other kinds.
  const std::uint32_t* load = nullptr;
  // Number of endpoints; must equal the number the balancer was built for
  // (a shorter request treats the missing endpoints as ineligible).
  std::size_t count = 0;
  // Key hash (see `hash_key`), for ip_hash / ring_hash / maglev.
  std::uint64_t hash = 0;
};

namespace detail {
// The first eligible endpoint, or -1: the hash balancers' slow proof that a
// long walk can end, and their last resort.
inline int first_eligible(const pick_request& r) {
  for (std::size_t i = 0; i < r.count; ++i)
    if (r.weight[i] != 0) return static_cast<int>(i);
  return -1;
}
}  // namespace detail

class balancer {
 public:
  virtual ~balancer() = default;

  // Thread: the owning worker only (the balancer's state is unsynchronised).
  // Pre: `r.weight` is non-null when `r.count > 0`.
  // Returns the index of the chosen endpoint (0 <= i < r.count, with
  // r.weight[i] > 0), or -1 when no endpoint is eligible. Never allocates,
  // never throws; cost O(count) for round_robin / least_conn / least_request
  // / random, O(1) expected for the hash kinds (when most endpoints are
  // eligible; the walk past ineligible ones is bounded, see ring_hash.h).
  virtual int pick(const pick_request& r) = 0;
};

// What every worker's balancer of one pool snapshot shares: the kind, the
// configured weights, and for ip_hash / ring_hash / maglev the immutable
// lookup table (tens to hundreds of KiB, so built once, not per worker).
class balancer_snapshot {
 public:
  // Thread: control. `weights` are the configured weights (1..1000; a 0 is
  // treated as 1 when placing ring points / Maglev entries). `ids` are
  // stable endpoint names ("host:port"), one per weight, used to place the
  // hash kinds' points so that removing one endpoint remaps only ~1/N of the
  // keys; duplicates are told apart by their occurrence number.
  // Throws std::invalid_argument if `ids.size() != weights.size()`, or for a
  // hash kind with more than 65535 endpoints.
  balancer_snapshot(config::balancer_kind kind, std::vector<std::uint32_t> weights,
                    const std::vector<std::string>& ids);
  ~balancer_snapshot();

  config::balancer_kind kind() const { return kind_; }
  const std::vector<std::uint32_t>& weights() const { return weights_; }

  // Thread: any. A new per-worker balancer; `seed` seeds its randomness
  // (pass the worker id) so runs are reproducible. The balancer keeps the
  // shared table alive on its own; this snapshot may be dropped.
  std::unique_ptr<balancer> make(std::uint64_t seed) const;

 private:
  config::balancer_kind kind_;
  std::vector<std::uint32_t> weights_;
  std::shared_ptr<const hash_ring> ring_;       // ip_hash, ring_hash
  std::shared_ptr<const maglev_table> maglev_;  // maglev
};

// Thread: control. Shorthands for `balancer_snapshot(kind, weights, ids).make(seed)`.
// The overload without ids names endpoint i "ep<i>": fine within one
// snapshot, but removing an endpoint then shifts the later ones' identity.
std::unique_ptr<balancer> make_balancer(config::balancer_kind kind,
                                        const std::vector<std::uint32_t>& weights,
                                        std::uint64_t seed);
std::unique_ptr<balancer> make_balancer(config::balancer_kind kind,
                                        const std::vector<std::uint32_t>& weights,
                                        std::uint64_t seed, const std::vector<std::string>& ids);

// Thread: any. Stable 64-bit hash of a key (client IP text, header value,
// cookie value, path): XXH3-64 with seed 0, the same on every process,
// machine and xxHash release >= 0.8, so several lb instances map a key alike.
std::uint64_t hash_key(std::string_view key);

}  // namespace lb::balancer
