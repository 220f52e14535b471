#include "lb/config/decode.h"

#include "lb/config/parse.h"

namespace lb::config::yaml {
namespace {

const schema client_limits_schema{
    "client_limits",
    {"connections", "connections_per_second", "requests_per_second", "burst", "allowlist", "table_size"},
    {}};

const schema route_client_limits_schema{
    "client_limits", {"requests_per_second", "burst", "concurrent_requests", "allowlist", "table_size"}, {}};

// The keys a listener's and a route's client_limits share; false for the others.
template <class Limits>
bool read_shared(reader& r, const field& item, Limits& out) {
  if (item.key == "requests_per_second") {
    if (auto v = r.read_uint(item, 0, 1'000'000'000)) out.requests_per_second = *v;
  } else if (item.key == "burst") {
    if (auto v = r.read_uint(item, 1, 1'000'000'000)) out.burst = *v;
  } else if (item.key == "table_size") {
    // Preallocated per listener (or limited route) per worker, about 64 bytes a client.
    if (auto v = r.read_uint(item, 16, 16'777'216)) out.table_size = static_cast<std::uint32_t>(*v);
  } else if (item.key == "allowlist") {
    decode_cidr_list(r, item, out.allowlist);
  } else {
    return false;
  }
  return true;
}

template <class Limits>
void check_burst(reader& r, const fields& m, Limits& out) {
  if (const auto* b = m.get("burst"); b && out.requests_per_second == 0)
    r.error(b->key_node.Mark(), "'burst' needs 'requests_per_second' (it is the request bucket's size)");
  if (out.burst == 0) out.burst = out.requests_per_second;
}

}  // namespace

void decode_client_limits(reader& r, const field& f, client_limits& out) {
  const auto m = r.read_map(f, client_limits_schema);
  if (!m) return;
  for (const auto& item : m->items) {
    if (read_shared(r, item, out)) continue;
    if (item.key == "connections") {
      if (auto v = r.read_uint(item, 0, no_max)) out.connections = *v;
    } else if (item.key == "connections_per_second") {
      if (auto v = r.read_uint(item, 0, 1'000'000'000)) out.connections_per_second = *v;
    }
  }
  check_burst(r, *m, out);
}

void decode_route_client_limits(reader& r, const field& f, route_client_limits& out) {
  const auto m = r.read_map(f, route_client_limits_schema);
  if (!m) return;
  for (const auto& item : m->items) {
    if (read_shared(r, item, out)) continue;
    if (item.key == "concurrent_requests") {
      if (auto v = r.read_uint(item, 0, 1'000'000'000)) out.concurrent_requests = *v;
    }
  }
  if (!m->get("burst") && !m->get("requests_per_second") && !m->get("concurrent_requests"))
    r.error(f, "a route's 'client_limits' needs 'requests_per_second' or 'concurrent_requests'");
  check_burst(r, *m, out);
}

}  // namespace lb::config::yaml
