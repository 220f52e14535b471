#include "lb/config/decode.h"
#include "lb/config/validate.h"

namespace lb::config::yaml {
namespace {

const schema kubernetes_schema{"kubernetes",
                               {"kubeconfig", "namespace", "ingress_class", "controller", "take_unclassed", "http",
                                "https", "tls_dir", "annotations_prefix"},
                               {}};

}  // namespace

void decode_kubernetes(reader& r, const field& f, kubernetes& out) {
  out.pos = r.pos(f);
  if (f.value.IsScalar() && f.value.Scalar() == "true") return;
  if (f.value.IsMap() && f.value.size() == 0) return;
  const auto m = r.read_map(f, kubernetes_schema);
  if (!m) return;
  for (const auto& item : m->items) {
    if (item.key == "http" || item.key == "https") {
      if (auto a = r.read_address(item, address_use::listen)) (item.key == "http" ? out.http : out.https) = *a;
      continue;
    }
    if (item.key == "take_unclassed") {
      const auto v = r.read_string(item);
      if (v && (*v == "true" || *v == "false")) out.take_unclassed = *v == "true";
      else if (v) r.error(item, "invalid 'take_unclassed': expected true or false, got " + describe(item.value));
      continue;
    }
    const auto v = r.read_string(item);
    if (!v) continue;
    if (item.key == "kubeconfig") {
      out.kubeconfig = resolve_path(out.pos, *v);
    } else if (item.key == "tls_dir") {
      if (v->empty()) r.error(item, "invalid 'tls_dir': must not be empty");
      else out.tls_dir = resolve_path(out.pos, *v);
    } else if (item.key == "namespace") {
      out.namespace_ = *v;
    } else if (item.key == "ingress_class" || item.key == "controller") {
      if (v->empty()) r.error(item, "invalid '" + item.key + "': must not be empty");
      else (item.key == "ingress_class" ? out.ingress_class : out.controller) = *v;
    } else if (item.key == "annotations_prefix") {
      out.annotations_prefix = *v;
    }
  }
}

}  // namespace lb::config::yaml
