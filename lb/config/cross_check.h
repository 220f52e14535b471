#pragma once
// The checks no single section can make, run over a whole `config` whatever
// source produced it: each config_source calls cross_check() after decoding.

#include <vector>

#include "lb/config/config.h"
#include "lb/config/diagnostic.h"

namespace lb::config {

// Thread: control. Checks that listener names, pool names and the route
// names within each listener are unique, that no two listeners (nor a
// listener and the admin server) share a listen address, and that every
// route's pool exists; sets each route's `pool_index`.
//
// Each problem is reported at the `*_pos` the source recorded. What the
// source could not read is left out, since it reported that already: an
// empty name, a listen address with port 0 (also the kernel's pick, which
// never collides), a route with an empty `pool`.
//
// Returns the problems in check order (names, addresses, pools), not source
// order; empty when the config is consistent. Never throws but for bad_alloc.
std::vector<diagnostic> cross_check(config& cfg);

}  // namespace lb::config
