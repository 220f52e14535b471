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
};

// Thread: control. Resolve and compile a loaded config into a snapshot.
load_outcome compile(const config::load_result& r, const std::string& path, std::uint64_t version,
                     upstream::live_registry& registry, tls::context_cache& tls, runtime::dns_cache seed = {});

// The workers a config asks for (`workers: 0` is one per core).
unsigned worker_count(const config::config& c);

}  // namespace lb::control
