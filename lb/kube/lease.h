#pragma once
// A coordination.k8s.io/v1 Lease as leader election reads and writes it
// (client-go's LeaseLock): who holds it, until when, and the request bodies
// that take, renew and release it. Pure: no I/O, unit-tested alone.
//
// Expiry follows the Lease itself (spec.renewTime + leaseDurationSeconds on
// this replica's wall clock), so replicas whose clocks disagree by more than
// the difference between the lease duration and the renew deadline (5 s with
// the defaults) could both believe they hold it. client-go instead times the
// lease from when it saw the record change; that would need every candidate
// to wait a whole lease on start-up.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace lb::kube {

using wall_time = std::chrono::system_clock::time_point;

struct lease_record {
  std::string holder;              // spec.holderIdentity; empty: free (released)
  std::chrono::seconds duration{0};  // spec.leaseDurationSeconds
  std::optional<wall_time> acquire_time;  // spec.acquireTime
  std::optional<wall_time> renew_time;    // spec.renewTime
  std::int64_t transitions = 0;    // spec.leaseTransitions
  std::string resource_version;    // metadata.resourceVersion
};

// Thread: any. `obj` (a Lease) decoded; false with `why` when it is not an
// object or a field has the wrong type. Missing fields keep their defaults.
bool parse_lease(const nlohmann::json& obj, lease_record& out, std::string& why);

// Thread: any. Whether another candidate may take `r` at `now`: it is free,
// has no renewTime, or renewTime + duration is not after `now`.
bool lease_expired(const lease_record& r, wall_time now);

// Thread: any. The Lease object to POST (create, `r.resource_version` empty)
// or PUT (update: with it, so a concurrent writer gets 409 Conflict).
nlohmann::json lease_object(const std::string& ns, const std::string& name, const lease_record& r);

// Thread: any. The record that makes `identity` the holder at `now` for
// `duration`, from `current` (nullopt: no lease yet): a renewal keeps the
// acquire time and transition count, a takeover counts one more transition.
lease_record take_lease(const std::optional<lease_record>& current, const std::string& identity,
                        std::chrono::seconds duration, wall_time now);

// Thread: any. The record that releases `current` (client-go's
// ReleaseOnCancel): no holder, a 1 s duration, renewed `now`.
lease_record release_lease(const lease_record& current, wall_time now);

// Thread: any. Kubernetes MicroTime: "2024-05-01T12:00:00.123456Z" (UTC).
std::string format_micro_time(wall_time t);
// Thread: any. RFC 3339 with or without a fraction, "Z" or a +hh:mm offset;
// nullopt otherwise.
std::optional<wall_time> parse_time(std::string_view s);

}  // namespace lb::kube
