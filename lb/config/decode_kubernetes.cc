#include "lb/config/decode.h"
#include "lb/config/validate.h"

namespace lb::config::yaml {
namespace {

const schema kubernetes_schema{"kubernetes",
                               {"kubeconfig", "namespace", "ingress_class", "controller", "take_unclassed", "http",
                                "https", "passthrough_listen", "tls_dir", "annotations_prefix", "status",
                                "leader_election", "events"},
                               {}};
const schema status_schema{"kubernetes status", {"addresses", "publish_service"}, {}};
const schema election_schema{"leader_election",
                             {"lease", "identity", "lease_duration", "renew_deadline", "retry_period"},
                             {}};

// An RFC 1123 subdomain: what the API server accepts as an object's name.
bool is_object_name(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
  const auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  return alnum(s.front()) && alnum(s.back());
}

// "namespace/name", or "name" (the namespace lb runs in, found at run time).
bool read_object_ref(reader& r, const field& f, std::string& ns, std::string& name) {
  const auto v = r.read_string(f);
  if (!v) return false;
  const auto slash = v->find('/');
  std::string n = slash == std::string::npos ? std::string() : v->substr(0, slash);
  std::string o = slash == std::string::npos ? *v : v->substr(slash + 1);
  if ((slash != std::string::npos && !is_object_name(n)) || !is_object_name(o)) {
    r.error(f, "invalid '" + f.key + "': expected NAME or NAMESPACE/NAME (lowercase RFC 1123 names), got " +
                   describe(f.value));
    return false;
  }
  ns = std::move(n);
  name = std::move(o);
  return true;
}

void decode_status(reader& r, const field& f, kubernetes::status_source& out) {
  const auto m = r.read_map(f, status_schema);
  if (!m) return;
  if (m->get("addresses") && m->get("publish_service"))
    r.error(f, "invalid 'status': give 'addresses' or 'publish_service', not both");
  for (const auto& item : m->items) {
    if (item.key == "publish_service") {
      read_object_ref(r, item, out.publish_namespace, out.publish_name);
      continue;
    }
    const auto list = r.read_list(item, "address");
    if (!list) continue;
    for (const auto& a : *list) {
      const auto v = r.read_string(a);
      if (!v) continue;
      if (v->empty() || v->find_first_of(" \t/") != std::string::npos)
        r.error(a, "invalid status address: expected an IP or a host name, got " + describe(a.value));
      else
        out.addresses.push_back(*v);
    }
  }
}

void decode_election(reader& r, const field& f, kubernetes::election& out) {
  const auto m = r.read_map(f, election_schema);
  if (!m) return;
  r.require(*m, "lease", "leader_election");
  for (const auto& item : m->items) {
    if (item.key == "lease") {
      read_object_ref(r, item, out.lease_namespace, out.lease_name);
    } else if (item.key == "identity") {
      if (const auto v = r.read_string(item)) {
        if (v->empty()) r.error(item, "invalid 'identity': must not be empty");
        else out.identity = *v;
      }
    } else if (const auto d = r.read_duration(item, false)) {
      (item.key == "lease_duration" ? out.lease_duration
       : item.key == "renew_deadline" ? out.renew_deadline
                                      : out.retry_period) = *d;
    }
  }
  // client-go's rules: the holder gives up (renew deadline) before another
  // may take over (lease duration), and tries more than once before that.
  if (out.lease_duration % std::chrono::seconds(1) != duration::zero())
    r.error(f, "invalid 'lease_duration': a Lease holds whole seconds");
  else if (out.renew_deadline >= out.lease_duration)
    r.error(f, "invalid 'leader_election': renew_deadline must be shorter than lease_duration");
  else if (out.retry_period >= out.renew_deadline)
    r.error(f, "invalid 'leader_election': retry_period must be shorter than renew_deadline");
}

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
    if (item.key == "passthrough_listen") {
      if (auto a = r.read_address(item, address_use::listen)) out.passthrough_listen = *a;
      continue;
    }
    if (item.key == "take_unclassed" || item.key == "events") {
      const auto v = r.read_string(item);
      if (v && (*v == "true" || *v == "false")) (item.key == "events" ? out.events : out.take_unclassed) = *v == "true";
      else if (v) r.error(item, "invalid '" + item.key + "': expected true or false, got " + describe(item.value));
      continue;
    }
    if (item.key == "status") {
      decode_status(r, item, out.status);
      continue;
    }
    if (item.key == "leader_election") {
      decode_election(r, item, out.leader_election);
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
