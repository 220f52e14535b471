#pragma once
// One consistent look at the cluster, for commands that read it once
// (`lb ingress translate --kubeconfig`): every resource listed by the watch
// client (paged, with its TLS, token and back-off), then the watch stopped.

#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lb/kube/credentials.h"
#include "lb/kube/resource.h"

namespace lb::kube {

// Thread: any but a watcher's (it blocks). Lists `resources` in `namespace_`
// (empty: all) and appends every object to `out` with its `kind` set. False
// with `why` when the client cannot start or not every resource was listed
// within `limit` (the client's log says what it met: 403, a bad CA, ...).
bool list_once(const credentials& creds, const std::vector<resource>& resources, const std::string& namespace_,
               std::chrono::milliseconds limit, std::vector<nlohmann::json>& out, std::string& why);

}  // namespace lb::kube
