#include "lb/upstream/affinity.h"

#include <chrono>

#include "lb/balancer/balancer.h"

namespace lb::upstream {

namespace {
constexpr char hex_digits[] = "0123456789abcdef";
}

std::uint64_t affinity_id(std::string_view label) { return balancer::hash_key(label); }

std::string affinity_attributes(const config::affinity_cookie& a) {
  std::string out = "; Path=" + a.path;
  if (!a.domain.empty()) out.append("; Domain=").append(a.domain);
  if (a.max_age.count() > 0)
    out.append("; Max-Age=").append(std::to_string(std::chrono::duration_cast<std::chrono::seconds>(a.max_age).count()));
  if (a.secure) out.append("; Secure");
  if (a.http_only) out.append("; HttpOnly");
  if (!a.same_site.empty()) out.append("; SameSite=").append(a.same_site);
  return out;
}

std::size_t affinity_endpoint(const pool_snapshot& pool, std::string_view value) {
  if (value.size() != 16) return no_endpoint;
  std::uint64_t id = 0;
  for (const char c : value) {
    unsigned d;
    if (c >= '0' && c <= '9') d = static_cast<unsigned>(c - '0');
    else if (c >= 'a' && c <= 'f') d = static_cast<unsigned>(c - 'a' + 10);
    else return no_endpoint;
    id = id << 4 | d;
  }
  // Pools are tens of endpoints: a scan of one cache line or two.
  for (std::size_t i = 0; i < pool.affinity_ids.size(); ++i)
    if (pool.affinity_ids[i] == id) return i;
  return no_endpoint;
}

void affinity_cookie_value(std::string& out, const pool_snapshot& pool, std::size_t i) {
  const auto& a = *pool.cfg->affinity;
  out.assign(a.name).push_back('=');
  const std::uint64_t id = pool.affinity_ids[i];
  for (int shift = 60; shift >= 0; shift -= 4) out.push_back(hex_digits[(id >> shift) & 0xf]);
  out.append(pool.affinity_attrs);
}

}  // namespace lb::upstream
