#pragma once
// ingress-nginx's annotations (nginx.ingress.kubernetes.io/*) read with
// ingress-nginx's meaning, so an Ingress written for it behaves the same
// under lb. What lb cannot do the same way is reported, never ignored.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lb/config/config.h"

namespace lb::ingress {

inline constexpr std::string_view nginx_prefix = "nginx.ingress.kubernetes.io/";

// How faithfully an annotation (or an object) is carried over.
enum class fidelity {
  supported,     // same behaviour
  approximated,  // close, the note says how it differs
  unsupported,   // ignored, the note says why; the rest of the Ingress serves
  rejected,      // the whole Ingress is refused (a *-snippet)
};

std::string_view fidelity_name(fidelity f);

struct note {
  fidelity level = fidelity::supported;
  std::string subject;  // the annotation's name, or the object part ("spec.rules[0]")
  std::string text;
};

enum class backend_protocol { http, https, grpc, grpcs };

struct nginx_annotations {
  bool use_regex = false;
  // rewrite-target: the path sent upstream, with $1.. the groups of the
  // Ingress path read as a regex; enforces use-regex on the host.
  std::string rewrite_target;
  std::uint64_t max_body_bytes = 0;  // proxy-body-size; 0: no limit
  std::optional<config::duration> connect_timeout;
  std::optional<config::duration> read_timeout;
  std::optional<config::duration> send_timeout;  // proxy-send-timeout
  // affinity: cookie with session-cookie-*; an empty path is the Ingress path's.
  std::optional<config::affinity_cookie> affinity;
  // limit-rps / limit-rpm / limit-connections with limit-burst-multiplier and limit-allowlist.
  std::optional<config::route_client_limits> client_limits;
  // ssl-passthrough: the hosts' TLS connections go through by SNI, undeciphered.
  bool ssl_passthrough = false;
  std::optional<config::balancer_kind> balancer;
  std::optional<config::hash_key> hash_key;
  backend_protocol protocol = backend_protocol::http;
  // HTTP requests for a host this Ingress has a certificate for are
  // redirected to https (ingress-nginx's default); force: even without one.
  bool ssl_redirect = true;
  bool force_ssl_redirect = false;
  std::vector<config::cidr> allow_from;  // whitelist-/allowlist-source-range
  // canary: this Ingress's backends take a share of the traffic of the
  // Ingress with the same host and path that is not a canary.
  bool canary = false;
  std::string canary_header;        // lower-cased
  std::string canary_header_value;  // empty: "always" routes to the canary
  std::string canary_cookie;        // as written; "always" routes to the canary
  std::optional<std::uint32_t> canary_weight;
  std::uint32_t canary_weight_total = 100;

  std::vector<note> notes;  // one per annotation read

  bool rejected() const;
};

// Reads every annotation under `prefix` (ingress-nginx's --annotations-prefix).
// Annotations under other prefixes are not ours and are left alone.
// Thread: any.
nginx_annotations read_annotations(const std::map<std::string, std::string>& annotations,
                                   std::string_view prefix = nginx_prefix);

}  // namespace lb::ingress
