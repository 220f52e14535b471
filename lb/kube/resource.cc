#include "lb/kube/resource.h"

namespace lb::kube {

namespace {

std::string selectors(const resource& r) {
  std::string q;
  if (!r.label_selector.empty()) q += "&labelSelector=" + url_encode(r.label_selector);
  if (!r.field_selector.empty()) q += "&fieldSelector=" + url_encode(r.field_selector);
  return q;
}

}  // namespace

std::optional<resource> known_resource(std::string_view plural) {
  const auto make = [](const char* name, const char* api, const char* kind, bool namespaced = true) {
    resource r;
    r.name = r.plural = name;
    r.api_path = api;
    r.kind = kind;
    r.namespaced = namespaced;
    return r;
  };
  if (plural == "ingresses") return make("ingresses", "/apis/networking.k8s.io/v1", "Ingress");
  if (plural == "ingressclasses")
    return make("ingressclasses", "/apis/networking.k8s.io/v1", "IngressClass", false);
  if (plural == "services") return make("services", "/api/v1", "Service");
  if (plural == "secrets") return make("secrets", "/api/v1", "Secret");
  if (plural == "endpointslices")
    return make("endpointslices", "/apis/discovery.k8s.io/v1", "EndpointSlice");
  return std::nullopt;
}

std::vector<resource> ingress_resources() {
  std::vector<resource> out;
  for (const char* plural : {"ingresses", "ingressclasses", "services", "endpointslices", "secrets"}) {
    auto r = known_resource(plural);
    if (r->plural == "secrets") r->field_selector = "type=kubernetes.io/tls";
    out.push_back(std::move(*r));
  }
  return out;
}

std::string collection_path(const resource& r, const std::string& ns) {
  if (!r.namespaced || ns.empty()) return r.api_path + "/" + r.plural;
  return r.api_path + "/namespaces/" + url_encode(ns) + "/" + r.plural;
}

std::string list_target(const resource& r, const std::string& ns, unsigned limit, const std::string& cont) {
  std::string t = collection_path(r, ns) + "?limit=" + std::to_string(limit);
  if (!cont.empty()) t += "&continue=" + url_encode(cont);
  return t + selectors(r);
}

std::string watch_target(const resource& r, const std::string& ns, const std::string& rv, std::chrono::seconds timeout) {
  return collection_path(r, ns) + "?watch=1&resourceVersion=" + url_encode(rv) +
         "&allowWatchBookmarks=true&timeoutSeconds=" + std::to_string(timeout.count()) + selectors(r);
}

std::string url_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

}  // namespace lb::kube
