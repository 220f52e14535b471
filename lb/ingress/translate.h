#pragma once
// Ingresses, Services, EndpointSlices and TLS Secrets -> the same validated
// `config::config` a YAML file produces, plus a report per object. The rules
// follow the Ingress API and, where it leaves room, ingress-nginx:
//
// - Hosts: exact names before wildcards ("*.example.com" covers one label,
//   as the API says), before rules without a host.
// - Paths within a host: longest first, Exact before Prefix of the same
//   length. Prefix matches whole path elements ("/foo" matches "/foo" and
//   "/foo/bar", not "/foobar"); ImplementationSpecific is nginx's byte-wise
//   prefix; with use-regex on any Ingress of a host, that host's paths are
//   case-insensitive regexes matching a prefix of the path.
// - Two Ingresses claiming the same host, path and type: the older one
//   (creationTimestamp, then namespace/name) wins, the other is reported.
// - A backend Service without ready endpoints is a pool without endpoints:
//   lb answers 503 for it. Terminating endpoints still serving are used only
//   when no endpoint is ready (as kube-proxy does).
// - One broken Ingress is reported and left out; the others serve.

#include <string>
#include <vector>

#include "lb/config/config.h"
#include "lb/ingress/annotations.h"
#include "lb/ingress/objects.h"
#include "lb/ingress/pools.h"

namespace lb::ingress {

struct options {
  // The IngressClass this controller serves: Ingresses naming it, or naming a
  // class whose spec.controller is `controller`; Ingresses naming no class
  // when such a class is the default, or with `take_unclassed`.
  std::string class_name = "lb";
  std::string controller = "lb.dev/ingress";
  bool take_unclassed = false;  // ingress-nginx's --watch-ingress-without-class
  config::address http{"0.0.0.0", 80, false};
  config::address https{"0.0.0.0", 443, false};
  // ssl-passthrough: TLS is terminated here, behind `https` routing by SNI.
  config::address passthrough_listen{"127.0.0.1", 442, false};
  // Where the Secrets' certificates and keys are written for the HTTPS
  // listener to load (the config names files).
  std::string tls_dir = "/var/run/lb/tls";
  std::string annotations_prefix{nginx_prefix};
};

// What became of one object.
struct object_report {
  std::string kind;  // "Ingress", "Secret", ...
  std::string key;   // namespace/name
  fidelity level = fidelity::supported;  // the worst of its notes
  bool served = true;  // false: ignored (another class) or rejected as a whole
  std::vector<note> notes;
};

// A file the config refers to (a Secret's PEM). Keys are written 0600.
struct pem_file {
  std::string path;
  std::string content;
  bool secret = false;
};

struct translation {
  config::config cfg;
  std::vector<object_report> report;  // Ingresses by key, then the other objects with problems
  std::vector<pem_file> files;
};

// Thread: control (any; it touches nothing shared but `memo`). Never throws
// but for bad_alloc. The config is cross-checked; it is valid whenever no
// object is reported with a problem in a way that kept it out. `memo` (the
// controller's, kept across translations; may be null) saves translating the
// endpoints of Services whose objects did not change.
translation translate(const cluster& objects, const options& opts, endpoint_memo* memo = nullptr);

}  // namespace lb::ingress
