#pragma once
// A loaded config compiled into a runtime snapshot, as start-up, a reload
// and `lb --check` all do it.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lb/config/source.h"
#include "lb/runtime/snapshot.h"
#include "lb/tls/server_contexts.h"
#include "lb/upstream/live.h"

namespace lb::control {

struct load_outcome {
  std::shared_ptr<const runtime::snapshot> snap;
  runtime::dns_cache dns;           // the hostnames `snap` resolved
  std::vector<std::string> errors;  // "FILE:LINE:COL: message" or "FILE: message"
  // Set by recompile when it republished the previous snapshot: the pools it
  // built (the others, and every listener, are the previous snapshot's).
  bool republished = false;
  std::vector<std::string> rebuilt_pools;
};

// Thread: control. Resolve and compile a loaded config into a snapshot.
load_outcome compile(const config::load_result& r, const std::string& path, std::uint64_t version,
                     upstream::live_registry& registry, tls::context_cache& tls, runtime::dns_cache seed = {});

// Thread: control. A reload of `prev`: when `r` differs from prev's config in
// pools alone (config::differs_in_pools_only) and no listener's certificate
// files changed, `prev` republished with just the changed pools built
// (runtime::republish_pools); otherwise what compile() makes of it. Either
// way every hostname is resolved afresh.
load_outcome recompile(const config::load_result& r, const runtime::snapshot& prev, const std::string& path,
                       std::uint64_t version, upstream::live_registry& registry, tls::context_cache& tls);

// The workers a config asks for (`workers: 0` is one per core).
unsigned worker_count(const config::config& c);

}  // namespace lb::control
