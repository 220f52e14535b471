#include "lb/ingress/objects.h"

#include <openssl/evp.h>

#include <algorithm>

#include <nlohmann/json.hpp>

namespace lb::ingress {
namespace {

using json = nlohmann::json;

// A decoding problem, thrown inside this file only and turned into `error`.
struct bad_field {
  std::string what;
};

[[noreturn]] void fail(const std::string& field, const std::string& what) { throw bad_field{field + ": " + what}; }

const json* member(const json& j, const char* name) {
  if (!j.is_object()) return nullptr;
  const auto it = j.find(name);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}

std::string text(const json& j, const char* name, const std::string& field) {
  const auto* v = member(j, name);
  if (!v) return {};
  if (!v->is_string()) fail(field + name, "expected a string");
  return v->get<std::string>();
}

const json& array(const json& j, const char* name, const std::string& field) {
  static const json empty = json::array();
  const auto* v = member(j, name);
  if (!v) return empty;
  if (!v->is_array()) fail(field + name, "expected a list");
  return *v;
}

std::uint16_t port_number(const json& v, const std::string& field) {
  if (!v.is_number_integer() || v.get<std::int64_t>() < 1 || v.get<std::int64_t>() > 65535)
    fail(field, "expected a port number 1-65535");
  return static_cast<std::uint16_t>(v.get<std::int64_t>());
}

bool condition(const json& conditions, const char* name, bool absent) {
  const auto* v = member(conditions, name);
  if (!v) return absent;
  if (!v->is_boolean()) fail(std::string("conditions.") + name, "expected true or false");
  return v->get<bool>();
}

std::map<std::string, std::string> string_map(const json& j, const char* name, const std::string& field) {
  std::map<std::string, std::string> out;
  const auto* v = member(j, name);
  if (!v) return out;
  if (!v->is_object()) fail(field + name, "expected a map");
  for (const auto& [k, value] : v->items()) {
    if (!value.is_string()) fail(field + name + "." + k, "expected a string");
    out.emplace(k, value.get<std::string>());
  }
  return out;
}

// Kubernetes's names (RFC 1123): a subdomain for objects, a label for
// namespaces, Services and port names. They become lb names and file names,
// so anything else is refused here.
bool dns_label_chars(std::string_view s, bool dots) {
  if (s.empty() || s.front() == '-' || s.back() == '-' || s.front() == '.' || s.back() == '.') return false;
  return std::all_of(s.begin(), s.end(), [&](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || (dots && c == '.');
  });
}

void check_name(const std::string& v, const std::string& field, bool subdomain) {
  const std::size_t max = subdomain ? 253 : 63;
  if (v.size() > max || !dns_label_chars(v, subdomain))
    fail(field, "'" + v + "' is not a valid name (lower-case letters, digits, '-'" + (subdomain ? ", '.'" : "") +
                    ", at most " + std::to_string(max) + ")");
}

object_meta decode_meta(const json& j) {
  if (!j.is_object()) fail("(object)", "expected a map");
  const auto* m = member(j, "metadata");
  if (!m || !m->is_object()) fail("metadata", "missing");
  object_meta meta;
  meta.name = text(*m, "name", "metadata.");
  if (meta.name.empty()) fail("metadata.name", "missing");
  check_name(meta.name, "metadata.name", true);
  meta.namespace_ = text(*m, "namespace", "metadata.");
  if (!meta.namespace_.empty()) check_name(meta.namespace_, "metadata.namespace", false);
  meta.uid = text(*m, "uid", "metadata.");
  meta.resource_version = text(*m, "resourceVersion", "metadata.");
  meta.creation_timestamp = text(*m, "creationTimestamp", "metadata.");
  meta.annotations = string_map(*m, "annotations", "metadata.");
  meta.labels = string_map(*m, "labels", "metadata.");
  return meta;
}

const json& spec_of(const json& j) {
  static const json empty = json::object();
  const auto* s = member(j, "spec");
  if (!s) return empty;
  if (!s->is_object()) fail("spec", "expected a map");
  return *s;
}

service_backend decode_backend(const json& b, const std::string& field) {
  if (member(b, "resource")) fail(field + "resource", "resource backends are not supported (only services)");
  const auto* s = member(b, "service");
  if (!s || !s->is_object()) fail(field + "service", "missing");
  service_backend out;
  out.service = text(*s, "name", field + "service.");
  if (out.service.empty()) fail(field + "service.name", "missing");
  check_name(out.service, field + "service.name", false);
  const auto* p = member(*s, "port");
  if (!p || !p->is_object()) fail(field + "service.port", "missing");
  if (const auto* n = member(*p, "number")) {
    out.port_number = port_number(*n, field + "service.port.number");
  } else {
    out.port_name = text(*p, "name", field + "service.port.");
    if (out.port_name.empty()) fail(field + "service.port", "needs a number or a name");
    check_name(out.port_name, field + "service.port.name", false);
  }
  return out;
}

std::string decode_base64(const std::string& in, const std::string& field) {
  std::string clean;
  clean.reserve(in.size());
  for (const char c : in)
    if (c != '\n' && c != '\r' && c != ' ') clean.push_back(c);
  if (clean.size() % 4 != 0) fail(field, "not base64");
  std::string out(clean.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(clean.data()), static_cast<int>(clean.size()));
  if (n < 0) fail(field, "not base64");
  // EVP_DecodeBlock counts the padding as decoded zero bytes.
  std::size_t size = static_cast<std::size_t>(n);
  if (!clean.empty() && clean.back() == '=') --size;
  if (clean.size() > 1 && clean[clean.size() - 2] == '=') --size;
  out.resize(size);
  return out;
}

template <typename F>
auto guarded(F&& decode, std::string& error) -> std::optional<decltype(decode())> {
  try {
    return decode();
  } catch (const bad_field& b) {
    error = b.what;
  } catch (const json::exception& x) {
    error = x.what();
  }
  return std::nullopt;
}

}  // namespace

std::optional<ingress> decode_ingress(const json& j, std::string& error) {
  return guarded([&] {
    ingress out;
    out.meta = decode_meta(j);
    const auto& spec = spec_of(j);
    out.class_name = text(spec, "ingressClassName", "spec.");
    if (out.class_name.empty()) {
      const auto it = out.meta.annotations.find("kubernetes.io/ingress.class");
      if (it != out.meta.annotations.end()) out.class_name = it->second;
    }
    if (const auto* d = member(spec, "defaultBackend")) out.default_backend = decode_backend(*d, "spec.defaultBackend.");
    const auto& rules = array(spec, "rules", "spec.");
    for (std::size_t i = 0; i < rules.size(); ++i) {
      const std::string f = "spec.rules[" + std::to_string(i) + "].";
      ingress_rule rule;
      rule.host = text(rules[i], "host", f);
      if (const auto* http = member(rules[i], "http")) {
        const auto& paths = array(*http, "paths", f + "http.");
        for (std::size_t k = 0; k < paths.size(); ++k) {
          const std::string pf = f + "http.paths[" + std::to_string(k) + "].";
          http_path p;
          p.path = text(paths[k], "path", pf);
          const auto type = text(paths[k], "pathType", pf);
          if (type == "Exact") p.type = path_type::exact;
          else if (type == "Prefix") p.type = path_type::prefix;
          else if (type == "ImplementationSpecific") p.type = path_type::implementation_specific;
          else if (type.empty()) fail(pf + "pathType", "missing (Exact, Prefix or ImplementationSpecific)");
          else fail(pf + "pathType", "'" + type + "' is not Exact, Prefix or ImplementationSpecific");
          const auto* b = member(paths[k], "backend");
          if (!b) fail(pf + "backend", "missing");
          p.backend = decode_backend(*b, pf + "backend.");
          rule.paths.push_back(std::move(p));
        }
      }
      out.rules.push_back(std::move(rule));
    }
    const auto& tls = array(spec, "tls", "spec.");
    for (std::size_t i = 0; i < tls.size(); ++i) {
      const std::string f = "spec.tls[" + std::to_string(i) + "].";
      ingress_tls t;
      const auto& hosts = array(tls[i], "hosts", f);
      for (std::size_t k = 0; k < hosts.size(); ++k) {
        if (!hosts[k].is_string()) fail(f + "hosts[" + std::to_string(k) + "]", "expected a string");
        t.hosts.push_back(hosts[k].get<std::string>());
      }
      t.secret = text(tls[i], "secretName", f);
      if (!t.secret.empty()) check_name(t.secret, f + "secretName", true);
      out.tls.push_back(std::move(t));
    }
    return out;
  }, error);
}

std::optional<ingress_class> decode_ingress_class(const json& j, std::string& error) {
  return guarded([&] {
    ingress_class out;
    out.meta = decode_meta(j);
    out.controller = text(spec_of(j), "controller", "spec.");
    const auto it = out.meta.annotations.find("ingressclass.kubernetes.io/is-default-class");
    out.is_default = it != out.meta.annotations.end() && it->second == "true";
    return out;
  }, error);
}

std::optional<service> decode_service(const json& j, std::string& error) {
  return guarded([&] {
    service out;
    out.meta = decode_meta(j);
    const auto& spec = spec_of(j);
    if (const auto type = text(spec, "type", "spec."); !type.empty()) out.type = type;
    out.external_name = text(spec, "externalName", "spec.");
    const auto& ports = array(spec, "ports", "spec.");
    for (std::size_t i = 0; i < ports.size(); ++i) {
      const std::string f = "spec.ports[" + std::to_string(i) + "].";
      service_port p;
      p.name = text(ports[i], "name", f);
      if (!p.name.empty()) check_name(p.name, f + "name", false);
      const auto* port = member(ports[i], "port");
      if (!port) fail(f + "port", "missing");
      p.port = port_number(*port, f + "port");
      if (const auto* t = member(ports[i], "targetPort")) {
        if (t->is_string()) p.target_name = t->get<std::string>();
        else p.target_number = port_number(*t, f + "targetPort");
      } else {
        p.target_number = p.port;
      }
      if (auto proto = text(ports[i], "protocol", f); !proto.empty()) p.protocol = std::move(proto);
      out.ports.push_back(std::move(p));
    }
    return out;
  }, error);
}

std::optional<endpoint_slice> decode_endpoint_slice(const json& j, std::string& error) {
  return guarded([&] {
    endpoint_slice out;
    out.meta = decode_meta(j);
    const auto it = out.meta.labels.find("kubernetes.io/service-name");
    if (it != out.meta.labels.end()) out.service = it->second;
    if (auto t = text(j, "addressType", ""); !t.empty()) out.address_type = std::move(t);
    const auto& ports = array(j, "ports", "");
    for (std::size_t i = 0; i < ports.size(); ++i) {
      const std::string f = "ports[" + std::to_string(i) + "].";
      slice_port p;
      p.name = text(ports[i], "name", f);
      if (const auto* n = member(ports[i], "port")) p.port = port_number(*n, f + "port");
      if (auto proto = text(ports[i], "protocol", f); !proto.empty()) p.protocol = std::move(proto);
      out.ports.push_back(std::move(p));
    }
    const auto& eps = array(j, "endpoints", "");
    for (std::size_t i = 0; i < eps.size(); ++i) {
      const std::string f = "endpoints[" + std::to_string(i) + "].";
      slice_endpoint e;
      const auto& addrs = array(eps[i], "addresses", f);
      for (std::size_t k = 0; k < addrs.size(); ++k) {
        if (!addrs[k].is_string()) fail(f + "addresses[" + std::to_string(k) + "]", "expected a string");
        e.addresses.push_back(addrs[k].get<std::string>());
      }
      if (const auto* c = member(eps[i], "conditions")) {
        e.ready = condition(*c, "ready", true);
        e.serving = condition(*c, "serving", e.ready);
        e.terminating = condition(*c, "terminating", false);
      }
      out.endpoints.push_back(std::move(e));
    }
    return out;
  }, error);
}

std::optional<tls_secret> decode_secret(const json& j, std::string& error) {
  return guarded([&] {
    tls_secret out;
    out.meta = decode_meta(j);
    out.type = text(j, "type", "");
    const auto* data = member(j, "data");
    if (data) {
      out.cert_pem = decode_base64(text(*data, "tls.crt", "data."), "data.tls.crt");
      out.key_pem = decode_base64(text(*data, "tls.key", "data."), "data.tls.key");
    }
    return out;
  }, error);
}

namespace {

std::string kind_of(const json& j) {
  return j.is_object() && j.contains("kind") && j["kind"].is_string() ? j["kind"].get<std::string>() : "";
}

std::string key_of(const json& j) {
  const auto* m = member(j, "metadata");
  if (!m || !m->is_object()) return {};
  // Whatever the object holds: a null or a number must not throw here.
  const auto str = [&](const char* name) {
    const auto* v = member(*m, name);
    return v && v->is_string() ? v->get<std::string>() : std::string();
  };
  const auto ns = str("namespace");
  const auto n = str("name");
  return ns.empty() ? n : ns + "/" + n;
}

}  // namespace

void cluster::remove(const json& j) {
  const auto kind = kind_of(j);
  const auto key = key_of(j);
  if (kind == "Ingress") ingresses.erase(key);
  else if (kind == "IngressClass") classes.erase(key);
  else if (kind == "Service") services.erase(key);
  else if (kind == "EndpointSlice") slices.erase(key);
  else if (kind == "Secret") secrets.erase(key);
  std::erase_if(undecodable, [&](const undecodable_object& u) { return u.kind == kind && u.key == key; });
}

void cluster::clear(const std::string& kind) {
  if (kind == "Ingress") ingresses.clear();
  else if (kind == "IngressClass") classes.clear();
  else if (kind == "Service") services.clear();
  else if (kind == "EndpointSlice") slices.clear();
  else if (kind == "Secret") secrets.clear();
  std::erase_if(undecodable, [&](const undecodable_object& u) { return u.kind == kind; });
}

void cluster::add(const json& j) {
  const auto kind = kind_of(j);
  if (kind == "List" || kind.ends_with("List")) {
    if (j.contains("items") && j["items"].is_array())
      for (const auto& item : j["items"]) add(item);
    return;
  }
  std::string error;
  const auto keep = [&](auto decoded, auto& into) {
    const auto key = key_of(j);
    // A new version replaces the old one, decodable or not.
    std::erase_if(undecodable, [&](const undecodable_object& u) { return u.kind == kind && u.key == key; });
    if (decoded) {
      into.insert_or_assign(decoded->meta.key(), std::move(*decoded));
    } else {
      into.erase(key);
      undecodable.push_back({kind, key.empty() ? "(unnamed)" : key, error});
    }
  };
  if (kind == "Ingress") keep(decode_ingress(j, error), ingresses);
  else if (kind == "IngressClass") keep(decode_ingress_class(j, error), classes);
  else if (kind == "Service") keep(decode_service(j, error), services);
  else if (kind == "EndpointSlice") keep(decode_endpoint_slice(j, error), slices);
  else if (kind == "Secret") keep(decode_secret(j, error), secrets);
}

}  // namespace lb::ingress
