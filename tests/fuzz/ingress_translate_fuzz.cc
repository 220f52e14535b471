// Kubernetes objects as the API server sends them (JSON: what anyone allowed
// to write an Ingress controls) to lb's config: every input is objects or a
// syntax error, the translation never crashes, and what it makes passes lb's
// own checks or says why not. (JSON, not YAML: Debian's yaml-cpp 0.7 can
// loop forever on some malformed YAML, a library bug the watch never meets.)
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "lb/config/loader.h"
#include "lb/ingress/config_yaml.h"
#include "lb/ingress/translate.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string in(reinterpret_cast<const char*>(data), size);
  lb::ingress::cluster objects;
  const auto j = nlohmann::json::parse(in, nullptr, false);
  if (!j.is_discarded()) objects.add(j);
  lb::ingress::options o;
  o.take_unclassed = true;
  const auto t = lb::ingress::translate(objects, o);
  // A translation whose report has no Config problem loads back from YAML
  // (when it names no certificate files: the loader reads those).
  bool config_problem = false;
  for (const auto& r : t.report) config_problem |= r.kind == "Config";
  if (!config_problem && t.files.empty()) {
    const auto back = lb::config::load_string(lb::ingress::to_yaml(t.cfg), "back.yaml");
    if (!back.ok()) __builtin_trap();
  }
  return 0;
}
