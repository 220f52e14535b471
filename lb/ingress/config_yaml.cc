#include "lb/ingress/config_yaml.h"

#include <yaml-cpp/yaml.h>

#include <boost/asio/ip/address.hpp>

#include "lb/config/parse.h"
#include "lb/config/validate.h"

namespace lb::ingress {
namespace {

std::string host_text(const config::host_match& h) {
  using kind = config::host_match::kind;
  switch (h.type) {
    case kind::any: return {};
    case kind::exact: return h.value;
    case kind::suffix: return "*" + h.value;
    case kind::prefix: return h.value + "*";
    case kind::regex: return "~" + h.value;
  }
  return {};
}

std::string hash_text(const config::hash_key& k) {
  using kind = config::hash_key::kind;
  switch (k.type) {
    case kind::client_ip: return "client_ip";
    case kind::header: return "header:" + k.name;
    case kind::cookie: return "cookie:" + k.name;
    case kind::path: return "path";
    case kind::sni: return "sni";
  }
  return "client_ip";
}

std::string cidr_text(const config::cidr& c) {
  namespace ip = boost::asio::ip;
  std::string a;
  if (c.v6) {
    ip::address_v6::bytes_type b;
    std::copy(c.bytes.begin(), c.bytes.end(), b.begin());
    a = ip::address_v6(b).to_string();
  } else {
    a = ip::address_v4({c.bytes[0], c.bytes[1], c.bytes[2], c.bytes[3]}).to_string();
  }
  return a + "/" + std::to_string(c.prefix);
}

void route(YAML::Emitter& y, const config::route& r) {
  y << YAML::BeginMap << YAML::Key << "name" << YAML::Value << r.name;
  y << YAML::Key << "match" << YAML::Value << YAML::BeginMap;
  if (const auto h = host_text(r.host); !h.empty()) y << YAML::Key << "host" << YAML::Value << YAML::DoubleQuoted << h;
  using kind = config::path_match::kind;
  const char* key = r.path.type == kind::exact ? "path_exact" : r.path.type == kind::regex ? "path_regex" : "path_prefix";
  y << YAML::Key << key << YAML::Value << YAML::DoubleQuoted << r.path.value;
  if (!r.headers.empty()) {
    y << YAML::Key << "headers" << YAML::Value << YAML::BeginMap;
    for (const auto& [n, v] : r.headers) y << YAML::Key << n << YAML::Value << YAML::DoubleQuoted << v;
    y << YAML::EndMap;
  }
  if (!r.cookies.empty()) {
    y << YAML::Key << "cookies" << YAML::Value << YAML::BeginMap;
    for (const auto& [n, v] : r.cookies) y << YAML::Key << n << YAML::Value << YAML::DoubleQuoted << v;
    y << YAML::EndMap;
  }
  y << YAML::EndMap;
  y << YAML::Key << "pool" << YAML::Value << r.pool;
  y << YAML::Key << "timeout" << YAML::Value << config::format_duration(r.timeout);
  if (r.write_timeout() != r.timeout)
    y << YAML::Key << "send_timeout" << YAML::Value << config::format_duration(r.write_timeout());
  if (!r.allow_from.empty()) {
    y << YAML::Key << "allow_from" << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (const auto& c : r.allow_from) y << cidr_text(c);
    y << YAML::EndSeq;
  }
  if (r.redirect_https) {
    y << YAML::Key << "redirect_https" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "code"
      << YAML::Value << r.redirect_https->code;
    if (r.redirect_https->port) y << YAML::Key << "port" << YAML::Value << r.redirect_https->port;
    y << YAML::EndMap;
  }
  if (r.max_body_bytes) y << YAML::Key << "max_body_bytes" << YAML::Value << r.max_body_bytes;
  if (const auto& cl = r.client_limits) {
    y << YAML::Key << "client_limits" << YAML::Value << YAML::Flow << YAML::BeginMap;
    if (cl->requests_per_second)
      y << YAML::Key << "requests_per_second" << YAML::Value << cl->requests_per_second << YAML::Key << "burst"
        << YAML::Value << cl->burst;
    if (cl->concurrent_requests)
      y << YAML::Key << "concurrent_requests" << YAML::Value << cl->concurrent_requests;
    if (!cl->allowlist.empty()) {
      y << YAML::Key << "allowlist" << YAML::Value << YAML::BeginSeq;
      for (const auto& c : cl->allowlist) y << cidr_text(c);
      y << YAML::EndSeq;
    }
    y << YAML::EndMap;
  }
  if (r.rewrite) {
    y << YAML::Key << "rewrite" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "regex"
      << YAML::Value << YAML::DoubleQuoted << r.rewrite->regex << YAML::Key << "replacement" << YAML::Value
      << YAML::DoubleQuoted << r.rewrite->replacement << YAML::EndMap;
  }
  y << YAML::EndMap;
}

void listener(YAML::Emitter& y, const config::listener& l) {
  y << YAML::BeginMap << YAML::Key << "name" << YAML::Value << l.name;
  y << YAML::Key << "listen" << YAML::Value << YAML::DoubleQuoted << l.listen.str();
  if (l.proto == config::protocol::tcp) {
    // ssl-passthrough: SNI routes, the others to `pool`.
    y << YAML::Key << "protocol" << YAML::Value << "tcp";
    if (!l.pool.empty()) y << YAML::Key << "pool" << YAML::Value << l.pool;
    y << YAML::Key << "routes" << YAML::Value << YAML::BeginSeq;
    for (const auto& r : l.tcp_routes) {
      const std::string sni = r.sni.type == config::host_match::kind::suffix ? "*" + r.sni.value : r.sni.value;
      y << YAML::Flow << YAML::BeginMap << YAML::Key << "name" << YAML::Value << r.name << YAML::Key << "sni"
        << YAML::Value << YAML::DoubleQuoted << sni << YAML::Key << "pool" << YAML::Value << r.pool << YAML::EndMap;
    }
    y << YAML::EndSeq << YAML::EndMap;
    return;
  }
  if (const auto& ap = l.accept_proxy) {
    y << YAML::Key << "accept_proxy_protocol" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "from"
      << YAML::Value << YAML::BeginSeq;
    for (const auto& c : ap->from) y << cidr_text(c);
    y << YAML::EndSeq << YAML::EndMap;
  }
  if (l.tls) {
    y << YAML::Key << "tls" << YAML::Value << YAML::BeginMap;
    y << YAML::Key << "certificates" << YAML::Value << YAML::BeginSeq;
    for (const auto& c : l.tls->certificates)
      y << YAML::Flow << YAML::BeginMap << YAML::Key << "cert" << YAML::Value << YAML::DoubleQuoted << c.cert
        << YAML::Key << "key" << YAML::Value << YAML::DoubleQuoted << c.key << YAML::EndMap;
    y << YAML::EndSeq;
    y << YAML::Key << "alpn" << YAML::Value << YAML::Flow << l.tls->alpn;
    y << YAML::EndMap;
  } else {
    std::vector<std::string> protocols;
    if (l.h1) protocols.push_back("h1");
    if (l.h2) protocols.push_back("h2");
    y << YAML::Key << "protocols" << YAML::Value << YAML::Flow << protocols;
  }
  y << YAML::Key << "routes" << YAML::Value << YAML::BeginSeq;
  for (const auto& r : l.routes) route(y, r);
  y << YAML::EndSeq << YAML::EndMap;
}

void pool(YAML::Emitter& y, const config::pool& p) {
  y << YAML::BeginMap << YAML::Key << "name" << YAML::Value << p.name;
  y << YAML::Key << "balancer" << YAML::Value << std::string(config::balancer_name(p.balancer));
  if (config::is_hash_balancer(p.balancer)) y << YAML::Key << "hash_key" << YAML::Value << hash_text(p.hash_key);
  y << YAML::Key << "endpoints" << YAML::Value << YAML::BeginSeq;
  for (const auto& e : p.endpoints) {
    if (e.weight == 1) {
      y << YAML::DoubleQuoted << e.addr.str();
    } else {
      y << YAML::Flow << YAML::BeginMap << YAML::Key << "address" << YAML::Value << YAML::DoubleQuoted << e.addr.str()
        << YAML::Key << "weight" << YAML::Value << e.weight << YAML::EndMap;
    }
  }
  y << YAML::EndSeq;
  y << YAML::Key << "connect_timeout" << YAML::Value << config::format_duration(p.connect_timeout);
  if (p.tls) {
    y << YAML::Key << "tls" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "verify" << YAML::Value
      << p.tls->verify << YAML::EndMap;
  }
  if (p.protocol != config::upstream_protocol::h1)
    y << YAML::Key << "protocol" << YAML::Value << (p.protocol == config::upstream_protocol::h2 ? "h2" : "h2c");
  if (p.proxy_protocol != config::proxy_version::none)
    y << YAML::Key << "proxy_protocol" << YAML::Value << (p.proxy_protocol == config::proxy_version::v1 ? "v1" : "v2");
  if (const auto& a = p.affinity) {
    y << YAML::Key << "affinity" << YAML::Value << YAML::Flow << YAML::BeginMap;
    y << YAML::Key << "cookie" << YAML::Value << a->name;
    y << YAML::Key << "path" << YAML::Value << YAML::DoubleQuoted << a->path;
    if (!a->domain.empty()) y << YAML::Key << "domain" << YAML::Value << a->domain;
    if (a->max_age.count() != 0) y << YAML::Key << "max_age" << YAML::Value << config::format_duration(a->max_age);
    if (a->secure) y << YAML::Key << "secure" << YAML::Value << true;
    if (!a->http_only) y << YAML::Key << "http_only" << YAML::Value << false;
    if (!a->same_site.empty()) y << YAML::Key << "same_site" << YAML::Value << config::to_lower(a->same_site);
    y << YAML::EndMap;
  }
  y << YAML::EndMap;
}

}  // namespace

std::string to_yaml(const config::config& cfg) {
  YAML::Emitter y;
  y << YAML::BeginMap;
  y << YAML::Key << "listeners" << YAML::Value << YAML::BeginSeq;
  for (const auto& l : cfg.listeners) listener(y, l);
  y << YAML::EndSeq;
  y << YAML::Key << "pools" << YAML::Value << YAML::BeginSeq;
  for (const auto& p : cfg.pools) pool(y, p);
  y << YAML::EndSeq << YAML::EndMap;
  return std::string(y.c_str()) + "\n";
}

}  // namespace lb::ingress
