#pragma once
// The pools of a translation: one per backend Service port and set of
// pool-level annotations, its endpoints from the Service's EndpointSlices.

#include <map>
#include <set>
#include <string>
#include <vector>

#include "lb/config/config.h"
#include "lb/ingress/annotations.h"
#include "lb/ingress/objects.h"

namespace lb::ingress {

// What a pool is made of: two backends with these are one pool.
struct pool_spec {
  std::string namespace_;
  service_backend backend;
  backend_protocol protocol = backend_protocol::http;
  config::balancer_kind balancer = config::balancer_kind::round_robin;
  std::optional<config::hash_key> hash_key;
  config::duration connect_timeout = std::chrono::seconds(5);  // ingress-nginx's default
  std::optional<config::affinity_cookie> affinity;

  std::string identity() const;  // equal for equal specs
};

// The endpoints of each Service port as of its objects' resource versions,
// kept from one translation to the next by a controller: an EndpointSlice
// event then costs a translation that Service's endpoints, not every
// Service's (at 1,000 Services of 10 endpoints, a fifth of an event's CPU).
// Objects without a resource version (manifest files) are never kept.
class endpoint_memo {
 public:
  // After a translation: forget the Service ports it did not ask for.
  void trim();
  std::size_t size() const { return entries_.size(); }

 private:
  friend class pool_builder;
  struct entry {
    std::string stamp;  // the Service's and its slices' keys and resource versions
    std::vector<config::endpoint> endpoints;
    std::vector<note> notes;  // without their subject
    bool used = false;
  };
  std::map<std::string, entry> entries_;
};

class pool_builder {
 public:
  // `memo` (may be null): endpoints kept from the last translation.
  explicit pool_builder(const cluster& objects, endpoint_memo* memo = nullptr);

  // The pool for `spec` (made on first use); its name. Problems finding the
  // Service or its port are added to `notes` (the pool is then empty: 503).
  std::string pool_for(const pool_spec& spec, std::vector<note>& notes, const std::string& subject);

  // A pool of `main` and `canary`'s endpoints where the canary gets
  // `weight` of `total` of the requests; its name.
  std::string weighted(const std::string& main, const std::string& canary, std::uint32_t weight,
                       std::uint32_t total);

  // The pools named in `used` (a claim that lost a conflict made one too).
  std::vector<config::pool> take(const std::set<std::string>& used) &&;

 private:
  std::vector<config::endpoint> endpoints_of(const pool_spec& spec, std::vector<note>& notes,
                                             const std::string& subject) const;
  config::pool* find(const std::string& name);

  const cluster& objects_;
  endpoint_memo* memo_;
  // "namespace/service" -> its EndpointSlices: one pass over the slices, not
  // one per pool (1,000 Services make that a million steps).
  std::map<std::string, std::vector<const endpoint_slice*>> slices_by_service_;
  std::map<std::string, std::string> by_identity_;  // identity -> name
  std::map<std::string, std::size_t> by_name_;      // name -> index in pools_
  std::vector<config::pool> pools_;
};

// `base` if it is a config name of at most 128 bytes, else its first bytes
// and a hash of the whole, so distinct inputs keep distinct names.
std::string config_name(const std::string& base);

}  // namespace lb::ingress
