#include "lb/config/decode.h"

namespace lb::config::yaml {
namespace {

const schema request_id_schema{"request_id", {"trust_from"}, {}};
const schema tracing_schema{"tracing", {"start", "sampled"}, {}};

}  // namespace

std::optional<bool> read_bool(reader& r, const field& f) {
  const auto v = r.read_string(f);
  if (!v) return std::nullopt;
  if (*v == "true") return true;
  if (*v == "false") return false;
  r.error(f, "invalid '" + f.key + "': expected true or false, got '" + *v + "'");
  return std::nullopt;
}

void decode_request_id(reader& r, const field& f, request_id& out) {
  // `request_id: true` is the short form of `request_id: {}`.
  if (f.value.IsScalar()) {
    if (const auto b = read_bool(r, f)) out.enabled = *b;
    return;
  }
  const auto m = r.read_map(f, request_id_schema);
  if (!m) return;
  out.enabled = true;
  if (const auto* t = m->get("trust_from")) decode_cidr_list(r, *t, out.trust_from);
}

void decode_tracing(reader& r, const field& f, tracing& out) {
  const auto m = r.read_map(f, tracing_schema);
  if (!m) return;
  out.enabled = true;
  for (const auto& item : m->items) {
    if (item.key == "start") {
      if (const auto b = read_bool(r, item)) out.start = *b;
    } else if (item.key == "sampled") {
      if (const auto b = read_bool(r, item)) out.sampled = *b;
    }
  }
}

}  // namespace lb::config::yaml
