#pragma once
// The validated configuration model: what a `config_source` produces.
// Plain data, immutable once loaded; the data plane compiles it further
// (router tables, balancers) when it builds a snapshot.

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lb::config {

using duration = std::chrono::milliseconds;

// Where a value was written: for a file, its path and a 1-based line and
// column. Kept on the objects that cross_check() looks at, since it runs over
// the whole config after the source was read; a source without lines (a
// Kubernetes object) can put its own location text in `file`.
struct source_pos {
  std::string file;
  int line = 0;
  int column = 0;
  bool operator==(const source_pos&) const = default;
};

// Where a pool's own keys were written, kept beside them but not part of the
// pool's value: a reload that adds an endpoint line moves every later pool's
// lines, and those pools are the same pools (runtime::republish_pools keeps
// pools that compare equal).
struct pool_pos : source_pos {
  pool_pos() = default;
  pool_pos(const source_pos& p) : source_pos(p) {}  // NOLINT(google-explicit-constructor): assigned from r.pos()
  bool operator==(const pool_pos&) const { return true; }
};

// A `host:port` or `[v6]:port` as written. `host` has no brackets. A literal
// IP leaves `is_hostname` false; otherwise the control thread resolves it.
struct address {
  std::string host;
  std::uint16_t port = 0;
  bool is_hostname = false;

  std::string str() const;  // back to `host:port` / `[v6]:port`
  bool operator==(const address&) const = default;
};

struct endpoint {
  address addr;
  std::uint32_t weight = 1;  // 1..1000
  bool operator==(const endpoint&) const = default;
};

struct keepalive {
  std::uint32_t max_idle = 64;  // idle upstream connections per endpoint, per worker
  duration idle_timeout = std::chrono::seconds(60);
  bool operator==(const keepalive&) const = default;
};

enum class balancer_kind { round_robin, least_conn, least_request, random, ip_hash, ring_hash, maglev };

// The config's name for `k` ("round_robin", ...).
std::string_view balancer_name(balancer_kind k);

// The kind the config calls `name`, or nullopt for a name no balancer has.
std::optional<balancer_kind> balancer_from_name(std::string_view name);

// Every balancer's name, in declaration order (for "expected one of" messages).
std::vector<std::string_view> balancer_names();

// Whether `k` picks by a hash of the request (and so takes `hash_key`).
constexpr bool is_hash_balancer(balancer_kind k) {
  return k == balancer_kind::ip_hash || k == balancer_kind::ring_hash || k == balancer_kind::maglev;
}

// What a hash balancer hashes. ip_hash defaults to client_ip; ring_hash and
// maglev to client_ip too unless `hash_key` says otherwise.
struct hash_key {
  enum class kind { client_ip, header, cookie, path, sni };  // sni: TCP listeners only
  kind type = kind::client_ip;
  std::string name;  // header name (lower-cased) or cookie name
  bool operator==(const hash_key&) const = default;
};

struct health_check {
  // grpc: grpc.health.v1.Health/Check over the pool's HTTP/2 (h2 or h2c pools).
  enum class kind { http, tcp, grpc };
  kind type = kind::http;
  std::string path = "/healthz";           // http only; must start with '/'
  std::string host;                        // http and grpc; Host / :authority (default: the endpoint address)
  std::string service;                     // grpc only; the service asked about ("" = the server as a whole)
  duration interval = std::chrono::seconds(2);
  duration timeout = std::chrono::seconds(1);
  std::uint32_t healthy_threshold = 2;     // consecutive successes to mark up
  std::uint32_t unhealthy_threshold = 3;   // consecutive failures to mark down
  std::uint16_t expect_status_min = 200;   // `expect_status: 200-399` or `200`
  std::uint16_t expect_status_max = 399;
  bool operator==(const health_check&) const = default;
};

// Passive outlier detection (Envoy's outlier_detection).
struct outlier {
  std::uint32_t consecutive_failures = 5;  // connect failures or 5xx in a row
  duration base_ejection = std::chrono::seconds(30);  // grows with each repeat ejection
  std::uint32_t max_ejected_percent = 50;  // 0..100
  bool operator==(const outlier&) const = default;
};

// PROXY protocol versions (HAProxy's proxy-protocol.txt).
enum class proxy_version { none, v1, v2 };

// What a pool's endpoints speak: HTTP/1.1, HTTP/2 over TLS (ALPN h2) or
// HTTP/2 in the clear with prior knowledge (h2c).
enum class upstream_protocol { h1, h2, h2c };

enum class tls_version;  // defined with the listener's `tls:` below; 0 = TLS 1.2

// A pool's `tls:` (or `tls: true`): lb speaks TLS to its endpoints.
struct pool_tls {
  std::string ca;           // PEM bundle to verify against; empty = the system store
  std::string sni;          // empty: the endpoint's hostname (none for an IP literal)
  bool verify = true;       // chain and name checked; off only by `verify: false`
  std::string client_cert;  // PEM chain presented when the endpoint asks (with client_key)
  std::string client_key;
  tls_version min_version{};  // TLS 1.2
  source_pos pos;             // of `tls` itself
  source_pos ca_pos, client_cert_pos, client_key_pos;
  bool operator==(const pool_tls&) const = default;
};

// `affinity:` on a pool: cookie-inserting session affinity (HAProxy's `cookie
// insert`, ingress-nginx's `affinity: cookie`). A request whose cookie names
// a usable endpoint of the pool goes there; otherwise the balancer picks, and
// the response sets the cookie to the endpoint that answered.
struct affinity_cookie {
  std::string name;                      // the cookie's
  std::string path = "/";                // its Path
  std::string domain;                    // its Domain; empty: none (the request's host)
  duration max_age = duration::zero();   // its Max-Age; 0: a session cookie
  bool secure = false;
  bool http_only = true;
  std::string same_site;                 // "Strict", "Lax", "None", or empty: none
  bool operator==(const affinity_cookie&) const = default;
};

struct pool {
  std::string name;  // empty: the source could not read one (and reported it)
  balancer_kind balancer = balancer_kind::round_robin;
  ::lb::config::hash_key hash_key;
  std::vector<endpoint> endpoints;  // at least one
  duration connect_timeout = std::chrono::seconds(2);
  duration dns_refresh = std::chrono::seconds(30);  // re-resolution of hostname endpoints
  // Qualified: a member named like its type otherwise "changes meaning" (g++ error).
  ::lb::config::keepalive keepalive;
  std::uint32_t max_connections_per_endpoint = 0;  // 0 = unlimited (circuit breaker off)
  std::optional<::lb::config::health_check> health_check;  // absent = no active checks
  std::optional<::lb::config::outlier> outlier;            // absent = no passive ejection
  duration slow_start = duration::zero();                  // 0 = off
  // `proxy_protocol: v1|v2`: a PROXY header ahead of every upstream connection
  // (TCP listeners only: a pooled HTTP connection carries many clients).
  proxy_version proxy_protocol = proxy_version::none;
  std::optional<pool_tls> tls;  // absent: plain TCP to the endpoints
  std::optional<affinity_cookie> affinity;  // HTTP listeners only
  upstream_protocol protocol = upstream_protocol::h1;
  // h2/h2c: streams lb opens at once on one connection (also capped by the
  // endpoint's SETTINGS_MAX_CONCURRENT_STREAMS); more requests open another.
  std::uint32_t max_concurrent_streams = 100;
  pool_pos name_pos;
  pool_pos proxy_protocol_pos;
  pool_pos protocol_pos;
  bool operator==(const pool&) const = default;
};

// Host match forms: `api.example.com` (exact, case-insensitive), `*.example.com`
// (suffix), `www.example.*` (prefix), `~regex` (RE2, full match). Empty = any.
struct host_match {
  enum class kind { any, exact, suffix, prefix, regex };
  kind type = kind::any;
  std::string value;  // lower-cased; for suffix ".example.com", for prefix "www.example."
  bool operator==(const host_match&) const = default;
};

struct path_match {
  enum class kind { prefix, exact, regex };
  kind type = kind::prefix;
  std::string value = "/";  // for regex: the RE2 pattern, full match on the path
  bool operator==(const path_match&) const = default;
};

// An address block: `10.0.0.0/8`, `2001:db8::/32`, or one address (`/32`, `/128`).
struct cidr {
  std::array<std::uint8_t, 16> bytes{};  // network byte order; IPv4 in the first 4
  bool v6 = false;
  std::uint8_t prefix = 0;  // bits
  bool operator==(const cidr&) const = default;
};

// `redirect_https:` on a plain HTTP listener: every request is answered with
// a redirect to https://HOST[:port]/path?query, never reaching an upstream.
struct redirect_https {
  std::uint16_t port = 0;  // 0: none in Location (https's 443)
  unsigned code = 308;     // 308, or 301 (then for GET and HEAD only; others keep 308)
  bool operator==(const redirect_https&) const = default;
};

// When a failed upstream attempt is retried on another endpoint. Connect
// failures are always retryable (nothing reached the upstream); the others
// only for requests that can be replayed (idempotent method, or no body sent).
struct retry_policy {
  std::uint32_t attempts = 2;  // retries after the first try (0 = none)
  bool on_connect_failure = true;   // "connect-failure"
  bool on_refused_stream = true;    // "refused-stream": reset/closed before any response byte
  std::vector<std::uint16_t> on_status;  // e.g. 502, 503
  std::uint32_t budget_percent = 20;     // retries stay under this share of requests (per worker)
  bool operator==(const retry_policy&) const = default;
};

// `rewrite:` on a route: when `regex` (RE2, searched in the path, not the
// query) matches, the path sent upstream is `replacement`, with `$1`..`$9`
// the regex's groups; the query is kept unless `replacement` has its own
// (nginx's `rewrite ... break`, which ingress-nginx's rewrite-target uses).
struct path_rewrite {
  std::string regex;
  std::string replacement;
  bool operator==(const path_rewrite&) const = default;
};

// `client_limits:` on a route: per client address (the one a PROXY header
// names, when the listener reads those), per worker, counting this route's
// requests alone (ingress-nginx's limit-rps and limit-connections, which are
// per Ingress). Over a limit: 429. 0 = that limit is off.
struct route_client_limits {
  std::uint64_t requests_per_second = 0;  // over it: 429 with Retry-After
  std::uint64_t burst = 0;                // requests allowed at once; 0 = requests_per_second
  std::uint64_t concurrent_requests = 0;  // in flight at once (each HTTP/2 stream counts, as nginx's limit_conn)
  std::vector<cidr> allowlist;            // clients exempt
  std::uint32_t table_size = 4096;        // clients tracked per worker
  bool operator==(const route_client_limits&) const = default;
};

struct route {
  std::string name;  // defaults to "route<N>" (0-based index within the listener)
  host_match host;
  path_match path;
  std::vector<std::pair<std::string, std::string>> headers;  // name lower-cased; exact value
  std::vector<std::pair<std::string, std::string>> cookies;  // name as written (case-sensitive); exact value
  std::string pool;            // empty: the source found none (and reported it)
  std::size_t pool_index = 0;  // index into config::pools, set by cross_check()
  duration timeout = std::chrono::seconds(30);  // upstream response (head) timeout
  // The upstream must take each write of the request (head, body piece)
  // within this (nginx's proxy_send_timeout); 0: `timeout`.
  duration send_timeout = duration::zero();
  duration write_timeout() const { return send_timeout.count() != 0 ? send_timeout : timeout; }
  retry_policy retries;
  std::vector<std::pair<std::string, std::string>> set_headers;  // added/replaced upstream
  // `allow_from:` only clients in these blocks (the address a trusted PROXY
  // header names, else the peer) take the route; others get 403. Empty: all.
  std::vector<cidr> allow_from;
  // `redirect_https:` on a plain listener: the route's requests are
  // redirected to https rather than forwarded (ingress-nginx's ssl-redirect).
  std::optional<::lb::config::redirect_https> redirect_https;
  std::optional<path_rewrite> rewrite;
  // `max_body_bytes:` request bodies on this route, at most (0: the
  // listener's limits.max_body_bytes alone). It lowers the listener's limit,
  // never raises it: the listener's applies before a route is chosen.
  std::uint64_t max_body_bytes = 0;
  std::optional<route_client_limits> client_limits;
  source_pos name_pos;  // of `name`, or of the route itself when it has none
  source_pos pool_pos;
  bool operator==(const route&) const = default;
};

// A TCP listener's route: flows whose TLS ClientHello names `sni` (and
// offers one of `alpn`) go to `pool`, TLS left to the origin (passthrough).
struct tcp_route {
  std::string name;  // defaults to "route<N>"
  host_match sni;    // any, exact or suffix (`*.example.com`) only
  std::vector<std::string> alpn;  // matches when the client offers any of them; empty = any
  std::string pool;
  std::size_t pool_index = 0;  // set by cross_check()
  source_pos name_pos;
  source_pos pool_pos;
  bool operator==(const tcp_route&) const = default;
};

// What an SNI-reading TCP listener does with a flow whose first bytes are
// not a TLS handshake.
enum class non_tls_action { close, pool };

struct limits {
  std::uint64_t max_connections = 100000;  // per listener, across all workers
  duration header_timeout = std::chrono::seconds(10);
  duration idle_timeout = std::chrono::seconds(60);
  std::uint32_t max_header_bytes = 16384;
  std::uint64_t max_body_bytes = 0;  // 0 = unlimited (streamed)
  std::uint32_t max_headers = 100;   // header field lines in a request head (431 past it)
  std::uint32_t max_header_line_bytes = 8192;  // one line of a request head (414 for the request line, else 431)
  std::uint64_t max_requests_per_connection = 0;  // 0 = unlimited; the last response says Connection: close
  // After an error answer sent while the client may still be sending (400,
  // 413, 431, an early upstream answer), its input is read and dropped for at
  // most this long before the close, so it reads the answer instead of an
  // RST (nginx's lingering_close). 0 = close at once.
  duration lingering_timeout = std::chrono::seconds(5);
  // TCP listeners: a flow one side has half-closed is closed this long after,
  // if the other side never finishes (a FIN_WAIT_2 that never ends).
  duration half_close_timeout = std::chrono::seconds(60);
  bool operator==(const limits&) const = default;
};

// A TCP listener's idle_timeout when none is given: flows are long-lived
// (databases, message queues) and often quiet for minutes.
inline constexpr duration tcp_default_idle_timeout = std::chrono::hours(1);

enum class protocol { http, tcp };

// `http2:` on an HTTP listener: the HTTP/2 plane's settings and its limits
// against the known floods. Each limit ends the abuser's connection with
// GOAWAY ENHANCE_YOUR_CALM and is counted (lb_http2_abuse_total).
struct http2 {
  std::uint32_t max_concurrent_streams = 100;  // SETTINGS_MAX_CONCURRENT_STREAMS
  std::uint32_t initial_window_size = 65535;   // per stream: what lb buffers of an upload
  // Rapid Reset (CVE-2023-44487): streams the client may reset, as a token
  // bucket (`reset_burst` at once, `resets_per_second` refilled).
  std::uint32_t reset_burst = 1000;
  std::uint32_t resets_per_second = 33;
  std::uint32_t max_continuations = 8;   // CONTINUATION frames per header block
  std::uint32_t max_header_fields = 100;  // decoded fields per request (HPACK bomb)
  // Frames that do no work (SETTINGS, PING, WINDOW_UPDATE, PRIORITY, empty
  // DATA): this many per connection, plus `control_frames_per_request` for
  // each request it sends.
  std::uint32_t control_frame_budget = 1000;
  std::uint32_t control_frames_per_request = 10;
  // A stream whose window stays zero (its client reads nothing) this long
  // ends the connection (slow read).
  duration stall_timeout = std::chrono::seconds(30);
  bool operator==(const http2&) const = default;
};

// `accept_proxy_protocol:` on a listener: PROXY v1/v2 headers are read from
// peers in `from` (trusted load balancers in front); a connection from
// elsewhere that starts with one is refused.
struct accept_proxy {
  std::vector<cidr> from;
  duration timeout = std::chrono::seconds(5);  // the whole header must arrive within this
  bool operator==(const accept_proxy&) const = default;
};

// `request_id:` on an HTTP listener: every request gets an X-Request-Id,
// sent upstream, returned to the client and written to the access log. A
// client's own is kept only from `trust_from` (lb's peer, or the client a
// trusted PROXY header names); from anyone else it is replaced.
struct request_id {
  bool enabled = false;
  std::vector<cidr> trust_from;
  bool operator==(const request_id&) const = default;
};

// `tracing:` on an HTTP listener: W3C Trace Context. A valid traceparent (and
// its tracestate) passes untouched; a malformed one is never forwarded. With
// `start`, a request without a valid one gets a new trace (`sampled` sets its
// sampled flag).
struct tracing {
  bool enabled = false;
  bool start = false;
  bool sampled = true;
  bool operator==(const tracing&) const = default;
};

// `client_limits:` on a listener: limits per client address (the one a PROXY
// header names, when the listener reads those), kept per worker in a table of
// `table_size` clients (LRU). 0 = that limit is off.
struct client_limits {
  std::uint64_t connections = 0;             // open at once; the next is closed
  std::uint64_t connections_per_second = 0;  // new ones; burst of one second's worth (at least 1)
  std::uint64_t requests_per_second = 0;     // HTTP only; over it: 429 with Retry-After
  std::uint64_t burst = 0;                   // requests allowed at once; 0 = requests_per_second
  std::vector<cidr> allowlist;               // clients exempt from every limit
  std::uint32_t table_size = 16384;          // clients tracked per worker
  bool operator==(const client_limits&) const = default;
};

// One certificate chain and its key (PEM files). The names it serves come
// from the certificate itself (subjectAltName DNS names, else its CN).
struct tls_certificate {
  std::string cert;  // as resolved: relative paths are taken from the config file's folder
  std::string key;
  std::string ocsp;  // DER OCSP response to staple; empty: none
  source_pos pos;    // of the list item, for problems with the files
  bool operator==(const tls_certificate&) const = default;
};

enum class tls_version { tls12, tls13 };

// `verify:` of a listener's client certificates. `optional` asks for one and
// checks it when sent; `required` refuses handshakes without a valid one.
enum class client_verify { off, optional, required };

// `tls:` on a listener: terminate TLS 1.2/1.3 there.
struct listener_tls {
  std::vector<tls_certificate> certificates;  // chosen by SNI; the first is the default
  tls_version min_version = tls_version::tls12;
  std::vector<std::string> alpn{"http/1.1"};  // in preference order
  std::string ciphers;  // TLS 1.2 cipher list (OpenSSL syntax); empty = lb's modern default
  duration handshake_timeout = std::chrono::seconds(10);
  bool reject_unknown_sni = false;  // else an unknown name gets the default certificate
  // Client certificates (mTLS): checked against `client_ca` (PEM, one or
  // more CA certificates) and, with `crl`, its revocation list(s) (PEM).
  client_verify verify = client_verify::off;
  std::string client_ca;  // as resolved, like the certificates' paths
  std::string crl;
  source_pos client_ca_pos;
  source_pos crl_pos;
  // Request fields (lower case) that carry the verified client certificate's
  // subject (RFC 2253) and SHA-256 fingerprint upstream. Always removed from
  // what clients send, so a client cannot forge them. Empty: not sent.
  std::string subject_header;
  std::string fingerprint_header;
  bool operator==(const listener_tls&) const = default;
};

// Top-level `tls:`: session resumption shared by every TLS listener.
struct tls_sessions {
  duration ticket_key_rotation = std::chrono::hours(12);
  std::string ticket_keys_file;  // empty: lb makes its own keys
  source_pos ticket_keys_file_pos;
  bool operator==(const tls_sessions&) const = default;
};

struct listener {
  std::string name;  // empty: the source could not read one (and reported it)
  address listen;    // always a literal IP (hostnames are refused); port 0 = kernel's pick
  protocol proto = protocol::http;
  // HTTP listeners (`protocols: [h1, h2]`): the versions spoken. On a plain
  // listener with both, a client's HTTP/2 preface picks h2c (prior
  // knowledge); on a `tls:` one, ALPN picks (`alpn: [h2, http/1.1]`).
  bool h1 = true;
  bool h2 = false;
  ::lb::config::http2 http2;
  ::lb::config::limits limits;
  ::lb::config::request_id request_id;
  ::lb::config::tracing tracing;
  std::vector<route> routes;  // first match wins
  std::optional<listener_tls> tls;
  std::optional<::lb::config::redirect_https> redirect_https;  // HTTP listeners without `tls:`
  // TCP listeners: the pool every flow goes to, or with `tcp_routes` the
  // default for flows no route matches (empty: those are closed).
  std::string pool;
  std::size_t pool_index = 0;  // into config::pools, set by cross_check()
  source_pos pool_pos;
  std::optional<::lb::config::accept_proxy> accept_proxy;
  std::optional<::lb::config::client_limits> client_limits;
  // TCP listeners: move bulk flows with splice() through a pipe (zero copy);
  // `splice: off` keeps every flow on the buffered path.
  bool splice = true;
  // TCP listeners: SNI routes (`routes:` on a tcp listener), first match by
  // exact name, then the longest wildcard, then routes without `sni`.
  std::vector<tcp_route> tcp_routes;
  duration peek_timeout = std::chrono::seconds(5);  // the whole ClientHello must arrive within this
  non_tls_action non_tls = non_tls_action::close;
  // Set by cross_check(): flows start with a ClientHello read (routes, or a
  // pool hashing by `sni`).
  bool peek_sni = false;
  source_pos name_pos;
  source_pos listen_pos;
  bool operator==(const listener&) const = default;
};

struct admin {
  std::optional<address> listen;  // absent = no admin server
  source_pos listen_pos;
  // `token_file:` a bearer token (the file's first line) that POST /reload
  // and other mutating endpoints require. Without one they are open on a
  // loopback `listen` and refused on any other. `token` is the file's
  // content, never shown.
  std::string token_file;
  std::string token;
  source_pos token_file_pos;
  bool operator==(const admin&) const = default;
};

struct access_log {
  enum class kind { off, stdout_, file };
  kind type = kind::stdout_;
  std::string path;  // for kind::file
  // `format: json` is the only format: one JSON object per request.
  bool operator==(const access_log&) const = default;
};

// `metrics:` (decode_metrics.cc). Bucket bounds of
// lb_http_request_duration_seconds, seconds, strictly ascending, 1..24 of them.
struct metrics {
  std::vector<double> request_duration_buckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                               0.1,    0.25,  0.5,    1,     2.5,  5,     10};
  bool operator==(const metrics&) const = default;
};

// `kubernetes:`: ingress controller mode (docs/ingress.md). lb watches the
// cluster's Ingresses, Services, EndpointSlices and TLS Secrets and serves
// what they say on two listeners of its own, beside the file's.
struct kubernetes {
  std::string kubeconfig;  // empty: the pod's service account (in-cluster)
  std::string namespace_;  // empty: every namespace
  std::string ingress_class = "lb";
  std::string controller = "lb.dev/ingress";
  bool take_unclassed = false;
  address http{"0.0.0.0", 80, false};
  address https{"0.0.0.0", 443, false};
  // Where TLS is terminated when an Ingress asks ssl-passthrough: `https`
  // then routes by SNI, passing those hosts' connections through and the
  // others here, with a PROXY header (ingress-nginx's --ssl-passthrough-proxy-port).
  address passthrough_listen{"127.0.0.1", 442, false};
  std::string tls_dir = "/var/run/lb/tls";  // the Secrets' PEM files, written by lb
  std::string annotations_prefix = "nginx.ingress.kubernetes.io/";
  // `status:` what lb writes to status.loadBalancer of the Ingresses it
  // serves: fixed `addresses` (IPs or host names), or those of
  // `publish_service` ("namespace/name": its load balancer's, external IPs,
  // else its cluster IP), as ingress-nginx's --publish-status-address and
  // --publish-service. Neither: no status is written.
  struct status_source {
    std::vector<std::string> addresses;
    std::string publish_namespace, publish_name;
    bool enabled() const { return !addresses.empty() || !publish_name.empty(); }
    bool operator==(const status_source&) const = default;
  } status;
  // `leader_election:` with several replicas, the one holding this Lease
  // writes status and Events; all serve. Without it, this replica writes.
  struct election {
    std::string lease_namespace, lease_name;  // empty name: no election
    std::string identity;                     // empty: the host name (a pod's name)
    duration lease_duration = std::chrono::seconds(15);
    duration renew_deadline = std::chrono::seconds(10);
    duration retry_period = std::chrono::seconds(2);
    bool operator==(const election&) const = default;
  } leader_election;
  bool events = true;  // Events for rejected objects and unsupported annotations
  source_pos pos;
  bool operator==(const kubernetes&) const = default;
};

// A member added here must be compared in differs_in_pools_only (config.cc).
struct config {
  std::string source;          // file the config was read from
  unsigned workers = 0;        // 0 = auto (one per core)
  duration drain_timeout = std::chrono::seconds(30);
  ::lb::config::admin admin;
  ::lb::config::access_log access_log;
  std::vector<listener> listeners;  // at least one
  std::vector<pool> pools;
  tls_sessions tls;
  ::lb::config::metrics metrics;
  std::optional<::lb::config::kubernetes> kubernetes;
  // Process-wide limits (top-level `limits:`). memory_high: resident bytes
  // past which workers stop accepting and close idle connections until lb is
  // below 90% of it again; 0 = off.
  struct process_limits {
    std::uint64_t memory_high = 0;
    bool operator==(const process_limits&) const = default;
  } limits;
  bool operator==(const config&) const = default;
};

// Whether `next` differs from `prev` in its pools alone (or not at all), with
// the same pool names in the same order, so that every route's `pool_index`
// still holds: a snapshot can then be republished by building just the pools
// that changed (runtime::republish_pools).
bool differs_in_pools_only(const config& prev, const config& next);

}  // namespace lb::config
