#include "lb/config/decode.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "lb/config/parse.h"
#include "lb/config/validate.h"

namespace lb::config::yaml {
namespace {

const schema pool_schema{"pool",
                         {"name", "balancer", "hash_key", "endpoints", "dns_refresh",
                          "connect_timeout", "keepalive", "max_connections_per_endpoint",
                          "health_check", "outlier", "slow_start", "proxy_protocol", "tls",
                          "protocol", "max_concurrent_streams", "affinity"},
                         {}};
const schema endpoint_schema{"endpoint", {"address", "weight"}, {}};
const schema keepalive_schema{"keepalive", {"max_idle", "idle_timeout"}, {}};
const schema health_check_schema{"health_check",
                                 {"type", "path", "host", "service", "interval", "timeout",
                                  "healthy_threshold", "unhealthy_threshold", "expect_status"},
                                 {}};
const schema outlier_schema{
    "outlier", {"consecutive_failures", "base_ejection", "max_ejected_percent"}, {}};

bool read_balancer(reader& r, const field& f, pool& out);
bool read_protocol(reader& r, const field& f, pool& out);
bool read_hash_key(reader& r, const field& f, pool& out);
void read_endpoints(reader& r, const field& f, pool& out);
std::optional<endpoint> read_endpoint(reader& r, const field& f);
void read_keepalive(reader& r, const field& f, keepalive& out);
void read_health_check(reader& r, const field& f, health_check& out);
void read_expect_status(reader& r, const field& f, health_check& out);
void read_outlier(reader& r, const field& f, outlier& out);

}  // namespace

void decode_pool(reader& r, const field& f, pool& out) {
  const auto m = r.read_map(f, pool_schema);
  if (!m) return;
  r.require(*m, "name", "pool");
  r.require(*m, "endpoints", "pool");
  bool balancer_ok = true;
  const field* hash_key = nullptr;  // set once a valid one was read
  const field* protocol = nullptr;  // set once a valid one was read
  const field* max_streams = nullptr;
  for (const auto& item : m->items) {
    if (item.key == "name") {
      if (auto n = r.read_name(item, "pool")) {
        out.name = *n;
        out.name_pos = r.pos(item);
      }
    } else if (item.key == "balancer") {
      balancer_ok = read_balancer(r, item, out);
    } else if (item.key == "hash_key") {
      if (read_hash_key(r, item, out)) hash_key = &item;
    } else if (item.key == "endpoints") {
      read_endpoints(r, item, out);
    } else if (item.key == "dns_refresh") {
      if (auto d = r.read_duration(item, false)) out.dns_refresh = *d;
    } else if (item.key == "connect_timeout") {
      if (auto d = r.read_duration(item, false)) out.connect_timeout = *d;
    } else if (item.key == "keepalive") {
      read_keepalive(r, item, out.keepalive);
    } else if (item.key == "max_connections_per_endpoint") {
      if (auto v = r.read_uint(item, 0, max_u32)) {
        out.max_connections_per_endpoint = static_cast<std::uint32_t>(*v);
      }
    } else if (item.key == "health_check") {
      read_health_check(r, item, out.health_check.emplace());
    } else if (item.key == "outlier") {
      read_outlier(r, item, out.outlier.emplace());
    } else if (item.key == "slow_start") {
      if (auto d = r.read_duration(item, true)) out.slow_start = *d;
    } else if (item.key == "proxy_protocol") {
      decode_proxy_version(r, item, out);
    } else if (item.key == "tls") {
      decode_pool_tls(r, item, out);
    } else if (item.key == "affinity") {
      decode_affinity(r, item, out.affinity.emplace());
    } else if (item.key == "protocol") {
      if (read_protocol(r, item, out)) protocol = &item;
    } else if (item.key == "max_concurrent_streams") {
      if (auto v = r.read_uint(item, 1, 10000)) {
        out.max_concurrent_streams = static_cast<std::uint32_t>(*v);
        max_streams = &item;
      }
    }
  }
  if (protocol && out.protocol == upstream_protocol::h2 && !out.tls) {
    r.error(*protocol, "'protocol: h2' is HTTP/2 over TLS, but this pool has no 'tls' (add 'tls:', or use "
                       "'h2c' for HTTP/2 in the clear)");
  } else if (protocol && out.protocol == upstream_protocol::h2c && out.tls) {
    r.error(*protocol, "'protocol: h2c' is HTTP/2 in the clear, but this pool has 'tls' (use 'h2')");
  }
  if (max_streams && out.protocol == upstream_protocol::h1) {
    r.error(max_streams->key_node.Mark(),
            "'max_concurrent_streams' applies only to HTTP/2 pools ('protocol: h2' or 'h2c')");
  }
  if (out.health_check && out.health_check->type == health_check::kind::grpc &&
      out.protocol == upstream_protocol::h1) {
    r.error(m->get("health_check")->key_node.Mark(),
            "grpc health checks speak HTTP/2: this pool needs 'protocol: h2' or 'h2c'");
  }
  // Other balancers would ignore the key; a config that expects stickiness
  // from it must not load.
  if (hash_key && balancer_ok && !is_hash_balancer(out.balancer)) {
    r.error(hash_key->key_node.Mark(),
            "'hash_key' is only used by the hash balancers (ip_hash, ring_hash, maglev), but "
            "this pool's balancer is '" + std::string(balancer_name(out.balancer)) + "'");
  }
}

namespace {

bool read_protocol(reader& r, const field& f, pool& out) {
  const auto s = r.read_string(f);
  if (!s) return false;
  if (*s == "h1") out.protocol = upstream_protocol::h1;
  else if (*s == "h2") out.protocol = upstream_protocol::h2;
  else if (*s == "h2c") out.protocol = upstream_protocol::h2c;
  else {
    r.error(f, "unknown protocol '" + *s + "' (expected one of: h1, h2, h2c)");
    return false;
  }
  out.protocol_pos = r.pos(f);
  return true;
}

bool read_balancer(reader& r, const field& f, pool& out) {
  const auto b = r.read_string(f);
  if (!b) return false;
  if (const auto kind = balancer_from_name(*b)) {
    out.balancer = *kind;
    return true;
  }
  r.error(f, "unknown balancer '" + *b + "' (expected one of: " + join(balancer_names()) + ")");
  return false;
}

bool read_hash_key(reader& r, const field& f, pool& out) {
  const auto s = r.read_string(f);
  if (!s) return false;
  std::string why;
  auto k = parse_hash_key(*s, why);
  if (!k) {
    r.error(f, why);
    return false;
  }
  out.hash_key = std::move(*k);
  return true;
}

void read_endpoints(reader& r, const field& f, pool& out) {
  // `endpoints: []` is a pool that answers 503 until it has endpoints (what
  // the Kubernetes source makes of a Service without ready pods); a missing
  // or null `endpoints` is still an error.
  const auto items = r.read_list(f, "endpoint", true);
  if (!items) return;
  for (const auto& item : *items) {
    auto e = read_endpoint(r, item);
    if (!e) continue;
    const auto same = [&](const endpoint& o) {
      return o.addr.host == e->addr.host && o.addr.port == e->addr.port;
    };
    if (std::any_of(out.endpoints.begin(), out.endpoints.end(), same)) {
      // Listing one twice would silently double its share; weight says it openly.
      r.error(item, "endpoint " + e->addr.str() + " is listed twice (use 'weight' instead)");
      continue;
    }
    out.endpoints.push_back(std::move(*e));
  }
}

std::optional<endpoint> read_endpoint(reader& r, const field& f) {
  if (f.value.IsScalar()) {
    auto a = r.read_address({"address", f.value, f.value}, address_use::endpoint);
    if (!a) return std::nullopt;
    return endpoint{*a, 1};
  }
  if (!f.value.IsMap()) {
    r.error(f, "invalid endpoint: expected \"host:port\" or a map with 'address' and 'weight', "
               "got " + describe(f.value));
    return std::nullopt;
  }
  const auto m = r.read_map(f, endpoint_schema);
  if (!m || !r.require(*m, "address", "endpoint")) return std::nullopt;
  endpoint e;
  bool ok = true;
  if (auto a = r.read_address(*m->get("address"), address_use::endpoint)) {
    e.addr = *a;
  } else {
    ok = false;
  }
  if (const auto* w = m->get("weight")) {
    if (auto v = r.read_uint(*w, 1, 1000)) {
      e.weight = static_cast<std::uint32_t>(*v);
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return e;
}

void read_keepalive(reader& r, const field& f, keepalive& out) {
  const auto m = r.read_map(f, keepalive_schema);
  if (!m) return;
  for (const auto& item : m->items) {
    if (item.key == "max_idle") {
      if (auto v = r.read_uint(item, 0, 100000)) out.max_idle = static_cast<std::uint32_t>(*v);
    } else if (item.key == "idle_timeout") {
      if (auto d = r.read_duration(item, false)) out.idle_timeout = *d;
    }
  }
}

void read_health_check(reader& r, const field& f, health_check& out) {
  const auto m = r.read_map(f, health_check_schema);
  if (!m) return;
  bool type_known = true;
  if (const auto* t = m->get("type")) {
    const auto s = r.read_string(*t);
    if (s && *s == "http") {
      out.type = health_check::kind::http;
    } else if (s && *s == "tcp") {
      out.type = health_check::kind::tcp;
    } else if (s && *s == "grpc") {
      out.type = health_check::kind::grpc;
    } else {
      if (s) r.error(*t, "unknown health check type '" + *s + "' (expected one of: http, tcp, grpc)");
      type_known = false;
    }
  }
  const field* interval = nullptr;  // each set once read and valid
  const field* timeout = nullptr;
  bool durations_ok = true;
  for (const auto& item : m->items) {
    const bool http_only = item.key == "path" || item.key == "expect_status";
    const bool grpc_only = item.key == "service";
    const bool not_tcp = http_only || grpc_only || item.key == "host";
    const char* type_name = out.type == health_check::kind::tcp    ? "tcp"
                            : out.type == health_check::kind::grpc ? "grpc"
                                                                   : "http";
    if (type_known && ((not_tcp && out.type == health_check::kind::tcp) ||
                       (http_only && out.type == health_check::kind::grpc) ||
                       (grpc_only && out.type == health_check::kind::http))) {
      r.error(item.key_node.Mark(), "'" + item.key + "' applies only to " +
                                        (grpc_only ? "grpc" : item.key == "host" ? "http and grpc" : "http") +
                                        " health checks, and this one is type '" + type_name + "'");
      continue;
    }
    if (item.key == "service") {
      if (const auto v = r.read_string(item)) out.service = *v;
      continue;
    }
    if (item.key == "path") {
      const auto p = r.read_string(item);
      if (!p) continue;
      if (p->empty() || p->front() != '/') {
        r.error(item, "invalid 'path': must start with '/', got " + describe(item.value));
      } else if (!is_origin_form(*p)) {
        r.error(item, "invalid 'path': must not contain spaces, control characters or non-ASCII "
                      "bytes (percent-encode them)");
      } else {
        out.path = *p;
      }
    } else if (item.key == "host") {
      const auto h = r.read_string(item);
      if (!h) continue;
      if (is_host_header(*h)) {
        out.host = *h;
      } else {
        r.error(item, "invalid 'host': expected a host name or IP address, with an optional "
                      "':port', got " + describe(item.value));
      }
    } else if (item.key == "interval" || item.key == "timeout") {
      const auto d = r.read_duration(item, false);
      if (!d) {
        durations_ok = false;
      } else if (item.key == "interval") {
        out.interval = *d;
        interval = &item;
      } else {
        out.timeout = *d;
        timeout = &item;
      }
    } else if (item.key == "healthy_threshold") {
      if (auto v = r.read_uint(item, 1, 100)) {
        out.healthy_threshold = static_cast<std::uint32_t>(*v);
      }
    } else if (item.key == "unhealthy_threshold") {
      if (auto v = r.read_uint(item, 1, 100)) {
        out.unhealthy_threshold = static_cast<std::uint32_t>(*v);
      }
    } else if (item.key == "expect_status") {
      read_expect_status(r, item, out);
    }
  }
  // A probe still running when the next is due would overlap it.
  if (durations_ok && out.timeout >= out.interval) {
    if (timeout) {
      r.error(*timeout, "invalid 'timeout': must be less than 'interval' (" +
                            format_duration(out.interval) + (interval ? "" : ", the default") +
                            ")");
    } else if (interval) {
      r.error(*interval, "invalid 'interval': must be greater than 'timeout' (" +
                             format_duration(out.timeout) + ", the default)");
    }
  }
}

void read_expect_status(reader& r, const field& f, health_check& out) {
  std::optional<status_range> range;
  if (f.value.IsScalar()) range = parse_status_range(f.value.Scalar());
  if (!range) {
    r.error(f, "invalid 'expect_status': expected a status code like 200 or a range like "
               "\"200-399\", got " + describe(f.value));
  } else if (range->min < 100 || range->min > 599 || range->max < 100 || range->max > 599) {
    r.error(f, "invalid 'expect_status': status codes must be from 100 to 599, got " +
                   describe(f.value));
  } else if (range->min > range->max) {
    r.error(f, "invalid 'expect_status': the lower code must come first, got " +
                   describe(f.value));
  } else {
    out.expect_status_min = static_cast<std::uint16_t>(range->min);
    out.expect_status_max = static_cast<std::uint16_t>(range->max);
  }
}

void read_outlier(reader& r, const field& f, outlier& out) {
  const auto m = r.read_map(f, outlier_schema);
  if (!m) return;
  for (const auto& item : m->items) {
    if (item.key == "consecutive_failures") {
      if (auto v = r.read_uint(item, 1, 1000)) {
        out.consecutive_failures = static_cast<std::uint32_t>(*v);
      }
    } else if (item.key == "base_ejection") {
      if (auto d = r.read_duration(item, false)) out.base_ejection = *d;
    } else if (item.key == "max_ejected_percent") {
      if (auto v = r.read_uint(item, 0, 100)) {
        out.max_ejected_percent = static_cast<std::uint32_t>(*v);
      }
    }
  }
}

}  // namespace
}  // namespace lb::config::yaml
