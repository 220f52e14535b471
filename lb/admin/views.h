#pragma once
// What the admin server answers on /metrics, /config and /pools: pure
// functions of a snapshot (and the live objects it points to) plus a few
// control-thread facts. They read the per-worker slots with relaxed loads and
// never write, so a scrape cannot disturb a worker.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lb/core/time_text.h"
#include "lb/runtime/snapshot.h"

namespace lb::admin {

// Control-thread facts the views need besides the snapshot.
struct control_facts {
  std::uint64_t reloads_success = 0, reloads_failure = 0;
  double last_reload_success_unix = 0;  // seconds; the startup load counts as the first success
  // Since when the file holds bytes that failed to load (0: the running config is the file's).
  double file_changed_unix = 0;
  double started_unix = 0;
  unsigned workers = 0;
  long pid = 0;  // this process's (a binary upgrade changes it)
  // Binary upgrades: `succeeded` counts in the new process (it took over),
  // `failed` and `refused` in the one that keeps serving.
  std::uint64_t upgrades_succeeded = 0, upgrades_failed = 0, upgrades_refused = 0;
  // The last load attempt, successful or not (the status page shows it).
  struct reload_attempt {
    bool ok = true;
    double at_unix = 0;
    std::string trigger;  // "startup", "SIGHUP", "POST /reload", "file change"
    std::vector<std::string> errors;
  } last_reload;
};

// Thread: control. Prometheus text exposition (prometheus-cpp TextSerializer)
// of every metric in DESIGN.md's table that this build can produce, summed
// over all workers from the per-worker slots. Labels are sorted by name in
// every sample; samples follow config order (listeners, routes, pools,
// endpoints) and ascending status code.
std::string render_metrics(const runtime::snapshot& snap, const control_facts& facts, std::string_view version);

// Thread: control. The active config as JSON, shaped like the YAML file
// (durations as "250ms"/"2s", addresses as "host:port", host matches as
// written), plus "version" and "loaded_at" (RFC 3339 UTC, milliseconds).
std::string render_config(const runtime::snapshot& snap);

// Thread: control. Live state of every pool and endpoint as JSON: pool name,
// balancer, and per endpoint the configured and resolved address, configured
// weight, health, ejection (ejected_until in seconds from now, 0 if not
// ejected), failure streak, in-flight requests, open connections, connect
// failures and upstream responses by status ("0" = no response) summed over
// workers.
std::string render_pools(const runtime::snapshot& snap);

// The RFC 3339 UTC form of a Unix time in milliseconds (lb/core/time_text.h).
using lb::rfc3339_utc;

}  // namespace lb::admin
