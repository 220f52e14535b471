#pragma once
// One kind of object watched (a "resource" in the API server's words) and the
// request targets that list and watch it. Pure string work: unit-tested alone.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lb::kube {

struct resource {
  std::string name;      // the consumer's key in every callback, e.g. "ingresses"
  std::string api_path;  // group/version: "/api/v1" (core) or "/apis/networking.k8s.io/v1"
  std::string plural;    // "ingresses"
  std::string kind;      // "Ingress": set on list items, which the API server sends without it
  bool namespaced = true;  // false (IngressClass): a namespace never applies
  std::string label_selector;  // optional, sent as labelSelector
  std::string field_selector;  // optional, sent as fieldSelector
  // Set: watched in this namespace whatever the watch's namespace (e.g. the
  // controller's own Service while the watch is scoped to another).
  std::optional<std::string> namespace_override;
};

// Thread: any. The resources issue 13 names, by plural: ingresses,
// ingressclasses, services, secrets, endpointslices; nullopt for others.
std::optional<resource> known_resource(std::string_view plural);

// Thread: any. What the ingress controller reads: Ingresses,
// IngressClasses, Services, EndpointSlices, and Secrets of type
// kubernetes.io/tls only (the others are none of lb's business and can be many).
std::vector<resource> ingress_resources();

// Thread: any. The collection path of `r` in namespace `ns` (empty: all
// namespaces), e.g. "/api/v1/namespaces/web/services".
std::string collection_path(const resource& r, const std::string& ns);

// Thread: any. One LIST page: `limit` items from `cont` (empty: the first page).
std::string list_target(const resource& r, const std::string& ns, unsigned limit, const std::string& cont);

// Thread: any. A WATCH from `rv` (the last resourceVersion seen), with
// bookmarks, ended by the server after `timeout`.
std::string watch_target(const resource& r, const std::string& ns, const std::string& rv, std::chrono::seconds timeout);

// Thread: any. Percent-encoding of a query value (RFC 3986 unreserved kept).
std::string url_encode(std::string_view s);

}  // namespace lb::kube
