#pragma once
// The Kubernetes objects the ingress controller reads, as typed values. They
// are decoded field by field from the API's JSON: nothing read from the
// cluster is ever spliced into config text (the IngressNightmare class of
// bug, CVE-2025-1974, has nowhere to happen).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace lb::ingress {

struct object_meta {
  std::string namespace_;
  std::string name;
  std::string uid;
  std::string resource_version;
  std::string creation_timestamp;  // RFC 3339, UTC: compares in time order as text
  std::map<std::string, std::string> annotations;
  std::map<std::string, std::string> labels;

  std::string key() const { return namespace_.empty() ? name : namespace_ + "/" + name; }
};

// `service: { name, port: { number | name } }` of an Ingress backend.
struct service_backend {
  std::string service;
  std::uint16_t port_number = 0;  // 0: by name
  std::string port_name;
};

enum class path_type { exact, prefix, implementation_specific };

struct http_path {
  std::string path;  // empty: "/" for Prefix and ImplementationSpecific
  path_type type = path_type::prefix;
  service_backend backend;
};

struct ingress_rule {
  std::string host;  // empty: any host; "*.example.com": one label under example.com
  std::vector<http_path> paths;
};

struct ingress_tls {
  std::vector<std::string> hosts;
  std::string secret;  // in the Ingress's namespace
};

struct ingress {
  object_meta meta;
  // spec.ingressClassName, else the kubernetes.io/ingress.class annotation;
  // empty: none (the default class takes it).
  std::string class_name;
  std::optional<service_backend> default_backend;
  std::vector<ingress_rule> rules;
  std::vector<ingress_tls> tls;
};

struct ingress_class {
  object_meta meta;
  std::string controller;
  bool is_default = false;  // ingressclass.kubernetes.io/is-default-class: "true"
};

struct service_port {
  std::string name;
  std::uint16_t port = 0;
  std::uint16_t target_number = 0;  // 0: by name, or the same as `port` when unset
  std::string target_name;
  std::string protocol = "TCP";
};

struct service {
  object_meta meta;
  std::string type = "ClusterIP";
  std::string external_name;  // type ExternalName
  std::vector<service_port> ports;
};

struct slice_endpoint {
  std::vector<std::string> addresses;
  // Conditions as the API defines them: an absent `ready` or `serving`
  // means true, an absent `terminating` false.
  bool ready = true;
  bool serving = true;
  bool terminating = false;
};

struct slice_port {
  std::string name;  // matches the Service port's name ("" for an unnamed one)
  std::uint16_t port = 0;
  std::string protocol = "TCP";
};

struct endpoint_slice {
  object_meta meta;
  std::string service;  // label kubernetes.io/service-name
  std::string address_type = "IPv4";  // IPv4, IPv6, FQDN
  std::vector<slice_port> ports;
  std::vector<slice_endpoint> endpoints;
};

struct tls_secret {
  object_meta meta;
  std::string type;
  std::string cert_pem;  // data["tls.crt"], base64-decoded
  std::string key_pem;   // data["tls.key"]
};

// Each decoder reads one object of its kind. On a problem it returns nullopt
// and sets `error` to "FIELD: what is wrong" (FIELD as a JSON path, e.g.
// "spec.rules[0].http.paths[1].pathType"). Thread: any.
std::optional<ingress> decode_ingress(const nlohmann::json& j, std::string& error);
std::optional<ingress_class> decode_ingress_class(const nlohmann::json& j, std::string& error);
std::optional<service> decode_service(const nlohmann::json& j, std::string& error);
std::optional<endpoint_slice> decode_endpoint_slice(const nlohmann::json& j, std::string& error);
std::optional<tls_secret> decode_secret(const nlohmann::json& j, std::string& error);

// The objects a translation reads, by "namespace/name".
struct cluster {
  std::map<std::string, ingress> ingresses;
  std::map<std::string, ingress_class> classes;
  std::map<std::string, service> services;
  std::map<std::string, endpoint_slice> slices;
  std::map<std::string, tls_secret> secrets;
  // Objects that could not be decoded, with why ("FIELD: what is wrong").
  struct undecodable_object {
    std::string kind;
    std::string key;
    std::string error;
  };
  std::vector<undecodable_object> undecodable;

  // Decodes `j` by its `kind` into its map (a `List` item by item),
  // replacing an object of the same namespace/name. Kinds the controller does
  // not read are skipped. Thread: any.
  void add(const nlohmann::json& j);
  // Forgets the object `j` names (its kind, namespace and name).
  void remove(const nlohmann::json& j);
  // Forgets every object of `kind` ("Ingress", ...), before a re-list.
  void clear(const std::string& kind);
};

}  // namespace lb::ingress
