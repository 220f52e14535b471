#pragma once
// A translated config written back as lb's YAML (what `lb ingress
// translate` prints), so a migration can be read, kept in git and run with
// `lb --config`. It writes what a translation sets: listeners with their
// listen address, protocols, TLS certificates and routes, and pools with
// their balancer, endpoints, timeouts, TLS and protocol; everything else is
// left to lb's defaults.

#include <string>

#include "lb/config/config.h"

namespace lb::ingress {

// Thread: any. Loading the text with lb's loader gives back the same
// listeners, routes and pools.
std::string to_yaml(const config::config& cfg);

}  // namespace lb::ingress
