#pragma once
// YAML -> `config`, one decoder per section of the file. Each reads what it
// can, reports every problem through the reader and carries on, so one pass
// finds them all. Checks that span sections (names, listen addresses, pool
// references) are not here: cross_check() runs them over the whole config.
// Control thread only.

#include "lb/config/config.h"
#include "lb/config/yaml_reader.h"

namespace lb::config::yaml {

// decode_top.cc: the top-level map, `workers`, `drain_timeout`, `admin`,
// `access_log`; hands each listener and pool to the decoders below.
// `kubernetes_default`: a missing `kubernetes:` reads as `kubernetes: {}`.
void decode_top(reader& r, const YAML::Node& root, config& out, bool kubernetes_default = false);

// decode_listener.cc: one listener with its limits and routes (match,
// retries, set_headers). Records the positions cross_check() reports at.
void decode_listener(reader& r, const field& f, listener& out);

// decode_proxy.cc: `accept_proxy_protocol:` on a listener (trusted CIDRs,
// header timeout) and a pool's `proxy_protocol: v1|v2`.
void decode_accept_proxy(reader& r, const field& f, accept_proxy& out);
void decode_proxy_version(reader& r, const field& f, pool& out);
// A list of address blocks (`from:`, `trust_from:`), appended to `out`.
void decode_cidr_list(reader& r, const field& f, std::vector<cidr>& out);

// decode_trace.cc: a listener's `request_id:` (true, false, or a map with
// `trust_from`) and `tracing:` (start, sampled).
void decode_request_id(reader& r, const field& f, request_id& out);
void decode_tracing(reader& r, const field& f, tracing& out);
// decode_client_limits.cc: a listener's `client_limits:` (per-client caps,
// allowlist, table size).
void decode_client_limits(reader& r, const field& f, client_limits& out);
// A route's `client_limits:` (requests per second, requests in flight).
void decode_route_client_limits(reader& r, const field& f, route_client_limits& out);

// decode_pool.cc: one pool with its balancer, endpoints, keepalive, health
// check and outlier detection. Records the position of its name.
void decode_pool(reader& r, const field& f, pool& out);

// decode_affinity.cc: a pool's `affinity:` (the cookie and its attributes).
void decode_affinity(reader& r, const field& f, affinity_cookie& out);

// decode_trace.cc: `true` or `false`, else an error naming the key.
std::optional<bool> read_bool(reader& r, const field& f);

// decode_pool_tls.cc: a pool's `tls:` (`true`, or a map: ca, sni, verify,
// client_cert, client_key, min_version); file contents are checked later.
void decode_pool_tls(reader& r, const field& f, pool& out);

// decode_tls.cc: a listener's `tls:` and the top-level `tls:` (ticket keys).
// Certificate files are checked when the snapshot is built, not here.
void decode_listener_tls(reader& r, const field& f, listener_tls& out);
void decode_tls_sessions(reader& r, const field& f, tls_sessions& out);
// decode_metrics.cc: `metrics:` (histogram bucket bounds, in seconds:
// positive, strictly ascending, 1 to 24 of them).
void decode_metrics(reader& r, const field& f, metrics& out);
// decode_http2.cc: a listener's `http2:` (settings and flood limits).
void decode_http2(reader& r, const field& f, http2& out);
// decode_tls.cc: a path as written, taken from the config file's folder when
// relative (as a user reading the config would read it), so `certs/a.crt`
// works from any cwd.
std::string resolve_path(const source_pos& at, const std::string& path);
// decode_kubernetes.cc: `kubernetes:` (ingress controller mode); `{}` or
// `true` takes every default.
void decode_kubernetes(reader& r, const field& f, kubernetes& out);

}  // namespace lb::config::yaml
