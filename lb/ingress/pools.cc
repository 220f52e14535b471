#include "lb/ingress/pools.h"

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <tuple>

#include "lb/config/parse.h"

namespace lb::ingress {
namespace {

// FNV-1a: a name suffix that is the same on every run and machine.
std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 14695981039346656037ull;
  for (const unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string hex8(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%08llx", static_cast<unsigned long long>(v & 0xffffffffull));
  return buf;
}

const service_port* find_port(const service& svc, const service_backend& b) {
  for (const auto& p : svc.ports)
    if (b.port_number ? p.port == b.port_number : p.name == b.port_name) return &p;
  return nullptr;
}

}  // namespace

void endpoint_memo::trim() {
  std::erase_if(entries_, [](const auto& e) { return !e.second.used; });
  for (auto& [key, e] : entries_) e.used = false;
}

pool_builder::pool_builder(const cluster& objects, endpoint_memo* memo) : objects_(objects), memo_(memo) {
  for (const auto& [key, slice] : objects_.slices)
    if (!slice.service.empty()) slices_by_service_[slice.meta.namespace_ + "/" + slice.service].push_back(&slice);
}

std::string config_name(const std::string& base) {
  if (base.size() <= 128) return base;
  return base.substr(0, 119) + "_" + hex8(fnv1a(base));
}

std::string pool_spec::identity() const {
  std::string id = namespace_ + '\0' + backend.service + '\0' + std::to_string(backend.port_number) + '\0' +
                   backend.port_name + '\0' + std::to_string(static_cast<int>(protocol)) + '\0' +
                   std::to_string(static_cast<int>(balancer)) + '\0' +
                   std::to_string(connect_timeout.count());
  if (hash_key) id += '\0' + std::to_string(static_cast<int>(hash_key->type)) + ':' + hash_key->name;
  if (affinity) {
    id.append("\0affinity\0", 10).append(affinity->name).append(1, '\0').append(affinity->path);
    id.append(1, '\0').append(affinity->domain).append(1, '\0').append(std::to_string(affinity->max_age.count()));
    id.append(1, '\0').append(affinity->secure ? "s" : "-").append(affinity->http_only ? "h" : "-");
    id.append(affinity->same_site);
  }
  return id;
}

std::vector<config::endpoint> pool_builder::endpoints_of(const pool_spec& spec, std::vector<note>& notes,
                                                         const std::string& subject) const {
  const auto& b = spec.backend;
  const auto sit = objects_.services.find(spec.namespace_ + "/" + b.service);
  if (sit == objects_.services.end()) {
    notes.push_back({fidelity::approximated, subject,
                     "Service '" + b.service + "' not found: its requests are answered 503 until it exists"});
    return {};
  }
  const auto& svc = sit->second;
  const auto* port = find_port(svc, b);
  if (!port) {
    notes.push_back({fidelity::approximated, subject,
                     "Service '" + b.service + "' has no port " +
                         (b.port_number ? std::to_string(b.port_number) : "'" + b.port_name + "'") +
                         ": its requests are answered 503"});
    return {};
  }
  std::vector<config::endpoint> out;
  if (svc.type == "ExternalName") {
    if (auto a = config::parse_address(svc.external_name + ":" + std::to_string(port->port))) out.push_back({*a, 1});
    else notes.push_back({fidelity::approximated, subject, "ExternalName '" + svc.external_name + "' is not a host name"});
    return out;
  }
  static const std::vector<const endpoint_slice*> none;
  const auto found = slices_by_service_.find(spec.namespace_ + "/" + b.service);
  const auto& slices = found == slices_by_service_.end() ? none : found->second;
  // What the answer depends on: the Service and its slices, as of their
  // resource versions (empty: one of them has none, nothing is kept).
  endpoint_memo::entry* kept = nullptr;
  std::string stamp;
  if (memo_ && !svc.meta.resource_version.empty()) {
    stamp = svc.meta.resource_version;
    for (const auto* s : slices) {
      if (s->meta.resource_version.empty()) {
        stamp.clear();
        break;
      }
      stamp.append(1, '\0').append(s->meta.key()).append(1, '\0').append(s->meta.resource_version);
    }
  }
  if (!stamp.empty()) {
    kept = &memo_->entries_[spec.namespace_ + "/" + b.service + '\0' + port->name + '\0' + std::to_string(port->port)];
    kept->used = true;
    if (kept->stamp == stamp) {
      for (auto n : kept->notes) {
        n.subject = subject;
        notes.push_back(std::move(n));
      }
      return kept->endpoints;
    }
  }
  const auto first_note = notes.size();
  // Ready endpoints; when there are none, those still serving while they
  // terminate, so a rollout's last pods are used rather than nothing.
  std::vector<config::endpoint> ready, draining;
  for (const auto* s : slices) {
    const auto& slice = *s;
    const auto& key = slice.meta.key();
    std::uint16_t number = 0;
    for (const auto& sp : slice.ports)
      if (sp.name == port->name && sp.protocol == "TCP") number = sp.port;
    if (!number) continue;
    for (const auto& e : slice.endpoints) {
      if (!e.ready && !(e.serving && e.terminating)) continue;
      auto& into = e.ready ? ready : draining;
      for (const auto& a : e.addresses) {
        const bool v6 = slice.address_type == "IPv6";
        auto parsed = config::parse_address((v6 ? "[" + a + "]" : a) + ":" + std::to_string(number));
        // An IPv4/IPv6 slice holds literals only; an FQDN one host names.
        if (!parsed || parsed->is_hostname != (slice.address_type == "FQDN")) {
          notes.push_back({fidelity::unsupported, subject, "EndpointSlice " + key + ": '" + a + "' is not an " +
                                                               slice.address_type + " address; left out"});
          continue;
        }
        config::endpoint ep;
        ep.addr = std::move(*parsed);
        const auto same = [&](const config::endpoint& o) { return o.addr.host == ep.addr.host && o.addr.port == number; };
        if (std::none_of(into.begin(), into.end(), same)) into.push_back(std::move(ep));
      }
    }
  }
  out = ready.empty() ? std::move(draining) : std::move(ready);
  // The same order whatever order the slices came in: hash tables and
  // round robin then agree across reloads and replicas.
  std::sort(out.begin(), out.end(), [](const config::endpoint& x, const config::endpoint& y) {
    return std::tie(x.addr.host, x.addr.port) < std::tie(y.addr.host, y.addr.port);
  });
  if (kept) {
    kept->stamp = std::move(stamp);
    kept->endpoints = out;
    kept->notes.assign(notes.begin() + static_cast<std::ptrdiff_t>(first_note), notes.end());
    for (auto& n : kept->notes) n.subject.clear();
  }
  return out;
}

std::string pool_builder::pool_for(const pool_spec& given, std::vector<note>& notes, const std::string& subject) {
  // A Service port named by number or by name is one pool.
  pool_spec spec = given;
  if (const auto sit = objects_.services.find(spec.namespace_ + "/" + spec.backend.service);
      sit != objects_.services.end()) {
    if (const auto* port = find_port(sit->second, spec.backend)) spec.backend = {spec.backend.service, port->port, {}};
  }
  const auto id = spec.identity();
  if (const auto it = by_identity_.find(id); it != by_identity_.end()) return it->second;
  const auto& b = spec.backend;
  std::string name = spec.namespace_ + "_" + b.service + "_" +
                     (b.port_number ? std::to_string(b.port_number) : b.port_name);
  // The same Service port with other settings (another Ingress's
  // annotations) is another pool.
  // Appended piecewise: g++ 12 -O3 warns falsely (-Wrestrict) on "lit" + std::string&&.
  if (find(config_name(name))) name.append("_").append(hex8(fnv1a(id)));
  name = config_name(name);
  config::pool p;
  p.name = name;
  p.name_pos.file = "Service " + spec.namespace_ + "/" + b.service;
  p.endpoints = endpoints_of(spec, notes, subject);
  p.connect_timeout = spec.connect_timeout;
  p.affinity = spec.affinity;
  p.balancer = spec.balancer;
  if (spec.hash_key) {
    p.balancer = config::balancer_kind::ring_hash;
    p.hash_key = *spec.hash_key;
  }
  if (spec.protocol == backend_protocol::https || spec.protocol == backend_protocol::grpcs) {
    config::pool_tls t;
    t.verify = false;
    p.tls = t;
  }
  if (spec.protocol == backend_protocol::grpc) p.protocol = config::upstream_protocol::h2c;
  if (spec.protocol == backend_protocol::grpcs) p.protocol = config::upstream_protocol::h2;
  by_identity_.emplace(id, name);
  by_name_.emplace(name, pools_.size());
  pools_.push_back(std::move(p));
  return name;
}

config::pool* pool_builder::find(const std::string& name) {
  const auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &pools_[it->second];
}

std::string pool_builder::weighted(const std::string& main, const std::string& canary, std::uint32_t weight,
                                   std::uint32_t total) {
  const auto name = config_name(main + "_canary_" + std::to_string(weight) + "_" + canary);
  if (find(name)) return name;
  config::pool merged = *find(main);
  const auto& c = *find(canary);
  merged.name = name;
  const std::uint64_t n1 = merged.endpoints.size(), n2 = c.endpoints.size();
  if (n1 == 0 || n2 == 0 || weight == 0 || weight >= total) {
    // One side has nothing (or all): that side alone.
    if (weight >= total && n2 > 0) merged.endpoints = c.endpoints;
    else if (n1 == 0) merged.endpoints = c.endpoints;
  } else {
    // Each main endpoint a, each canary one b, with n2*b / (n1*a + n2*b) =
    // weight/total: a = (total - weight) * n2, b = weight * n1, then scaled
    // into lb's 1..1000.
    std::uint64_t a = (total - weight) * n2, b = std::uint64_t{weight} * n1;
    const auto g = std::gcd(a, b);
    a /= g;
    b /= g;
    const auto top = std::max(a, b);
    if (top > 1000) {
      a = std::max<std::uint64_t>(1, (a * 1000 + top / 2) / top);
      b = std::max<std::uint64_t>(1, (b * 1000 + top / 2) / top);
    }
    for (auto& e : merged.endpoints) e.weight = static_cast<std::uint32_t>(a);
    for (auto e : c.endpoints) {
      e.weight = static_cast<std::uint32_t>(b);
      const auto same = [&](const config::endpoint& o) { return o.addr.host == e.addr.host && o.addr.port == e.addr.port; };
      if (std::none_of(merged.endpoints.begin(), merged.endpoints.end(), same)) merged.endpoints.push_back(e);
    }
  }
  by_name_.emplace(name, pools_.size());
  pools_.push_back(std::move(merged));
  return name;
}

std::vector<config::pool> pool_builder::take(const std::set<std::string>& used) && {
  std::erase_if(pools_, [&](const config::pool& p) { return !used.count(p.name); });
  by_name_.clear();
  return std::move(pools_);
}

}  // namespace lb::ingress
