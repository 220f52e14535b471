#pragma once
// One endpoint's live state as JSON: what /pools lists per endpoint and what
// /stats and the status page extend with rates.

#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "lb/runtime/snapshot.h"

namespace lb::admin {

// Thread: control. Address (as configured and resolved), configured and
// effective weight, health, last active check ({result, reason, at} or null),
// ejection (ejected_until in seconds from now), failure streak, in-flight,
// open connections, connect failures and upstream responses by status code
// ("0" = no response; "5xx" etc. for unregistered codes) summed over workers.
// `now` is upstream::ticks(upstream::clock::now()).
nlohmann::ordered_json endpoint_state(const runtime::pool_snapshot& ps, std::size_t e, std::int64_t now);

// The `code` label of a status_counters slot ("0", "200", "5xx").
std::string code_label(std::size_t slot);

}  // namespace lb::admin
