#include "lb/config/decode.h"

#include "lb/config/parse.h"

namespace lb::config::yaml {
namespace {

const schema client_limits_schema{
    "client_limits",
    {"connections", "connections_per_second", "requests_per_second", "burst", "allowlist", "table_size"},
    {}};

}  // namespace

void decode_client_limits(reader& r, const field& f, client_limits& out) {
  const auto m = r.read_map(f, client_limits_schema);
  if (!m) return;
  for (const auto& item : m->items) {
    if (item.key == "connections") {
      if (auto v = r.read_uint(item, 0, no_max)) out.connections = *v;
    } else if (item.key == "connections_per_second") {
      if (auto v = r.read_uint(item, 0, 1'000'000'000)) out.connections_per_second = *v;
    } else if (item.key == "requests_per_second") {
      if (auto v = r.read_uint(item, 0, 1'000'000'000)) out.requests_per_second = *v;
    } else if (item.key == "burst") {
      if (auto v = r.read_uint(item, 1, 1'000'000'000)) out.burst = *v;
    } else if (item.key == "table_size") {
      // Preallocated per listener per worker (about 64 bytes a client).
      if (auto v = r.read_uint(item, 16, 16'777'216)) out.table_size = static_cast<std::uint32_t>(*v);
    } else if (item.key == "allowlist") {
      const auto blocks = r.read_list(item, "address block");
      for (std::size_t i = 0; blocks && i < blocks->size(); ++i) {
        const auto& b = (*blocks)[i];
        const auto text = r.read_string(b);
        if (!text) continue;
        if (auto c = parse_cidr(*text)) {
          out.allowlist.push_back(*c);
        } else {
          r.error(b, "invalid address block '" + *text +
                         "' (expected an IP address or CIDR such as 10.0.0.0/8, with no host bits set)");
        }
      }
    }
  }
  if (const auto* b = m->get("burst"); b && out.requests_per_second == 0)
    r.error(b->key_node.Mark(), "'burst' needs 'requests_per_second' (it is the request bucket's size)");
  if (out.burst == 0) out.burst = out.requests_per_second;
}

}  // namespace lb::config::yaml
