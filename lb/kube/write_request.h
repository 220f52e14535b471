#pragma once
// The bodies of the writes the ingress controller makes, and the memory that
// keeps it from repeating itself: an Ingress's status.loadBalancer as a JSON
// merge patch, a core/v1 Event, and the de-duplication of Events. Pure: no
// I/O, unit-tested alone.

#include <chrono>
#include <cstddef>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "lb/kube/lease.h"

namespace lb::kube {

// One entry of status.loadBalancer.ingress: an IP or a host name.
struct lb_address {
  std::string value;
  bool hostname = false;  // false: an IP literal
  friend bool operator==(const lb_address&, const lb_address&) = default;
};

// Thread: any. An IP literal (v4 or v6) as an IP, anything else as a host name.
lb_address make_address(std::string value);

// Thread: any. Sorted (IPs first) and without duplicates: the order of a
// status that says the same thing whatever order it was built in.
std::vector<lb_address> normalized(std::vector<lb_address> a);

// Thread: any. The addresses in an Ingress's `status.loadBalancer.ingress`
// (entries with neither ip nor hostname skipped), normalized; empty when absent.
std::vector<lb_address> status_addresses(const nlohmann::json& ingress);

// Thread: any. The addresses a Service publishes for the Ingresses behind
// it, as ingress-nginx's --publish-service reads them: ExternalName its
// name; LoadBalancer its status.loadBalancer.ingress and spec.externalIPs;
// NodePort its external IPs, else its cluster IP; ClusterIP its cluster IP
// (none when headless). Normalized; empty when there is none yet.
std::vector<lb_address> service_status_addresses(const nlohmann::json& service);

// Thread: any. The merge patch for the status subresource:
// {"status":{"loadBalancer":{"ingress":[{"ip":...}|{"hostname":...}]}}},
// addresses normalized. An empty list clears it ("ingress": []).
nlohmann::json status_patch(const std::vector<lb_address>& addresses);

// Thread: any. ".../namespaces/NS/ingresses/NAME/status".
std::string ingress_status_path(const std::string& ns, const std::string& name);

// The object an Event is about.
struct object_ref {
  std::string kind;              // "Ingress"
  std::string namespace_;        // where the Event is created too
  std::string name;
  std::string uid;
  std::string api_version;       // "networking.k8s.io/v1"
  std::string resource_version;  // optional
};

enum class event_severity { normal, warning };

// Thread: any. The core/v1 Event for POST .../namespaces/NS/events:
// generateName "<name>.", involvedObject, reason, message, type,
// source.component `component`, first/lastTimestamp `now`, count 1.
nlohmann::json event_object(const object_ref& obj, event_severity type, const std::string& reason,
                            const std::string& message, const std::string& component, wall_time now);

// Which (object uid, reason, message) were sent within `window`: the same
// Event at most once per window, so a reload loop that rejects an object
// every 50 ms does not flood the API server. At most `max_entries`
// remembered (the oldest forgotten first). Thread: the owner's.
class event_dedup {
 public:
  using clock = std::chrono::steady_clock;
  explicit event_dedup(clock::duration window, std::size_t max_entries = 4096)
      : window_(window), max_(max_entries) {}

  // True (and remembered at `now`) when not seen within the window.
  bool admit(const std::string& uid, const std::string& reason, const std::string& message, clock::time_point now);
  // Forgets one (a send that failed for good may be tried again).
  void forget(const std::string& uid, const std::string& reason, const std::string& message);
  std::size_t size() const { return seen_.size(); }

 private:
  static std::string key(const std::string& uid, const std::string& reason, const std::string& message);
  void expire(clock::time_point now);

  clock::duration window_;
  std::size_t max_;
  std::unordered_map<std::string, clock::time_point> seen_;
  // Admissions in time order; an entry whose time no longer matches seen_
  // (forgotten, or admitted again later) is skipped.
  std::deque<std::pair<clock::time_point, std::string>> order_;
};

}  // namespace lb::kube
