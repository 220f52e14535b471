#pragma once
// Kubernetes manifests as files: YAML (several documents, `kind: List`) or
// JSON, as `kubectl get -o yaml` and `helm template` write them.

#include <string>

#include "lb/ingress/objects.h"

namespace lb::ingress {

// Thread: any. Adds the objects of `text` to `objects`. Returns "" or the
// first syntax error as "NAME:LINE:COL: message"; objects before it are kept.
std::string read_manifests(const std::string& text, const std::string& name, cluster& objects);

}  // namespace lb::ingress
