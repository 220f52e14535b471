#include "lb/config/decode.h"

#include "lb/config/parse.h"

namespace lb::config::yaml {
namespace {

const schema accept_proxy_schema{"accept_proxy_protocol", {"from", "timeout"}, {}};

}  // namespace

void decode_accept_proxy(reader& r, const field& f, accept_proxy& out) {
  const auto m = r.read_map(f, accept_proxy_schema);
  if (!m) return;
  // Without `from` nobody would be trusted: the key would only refuse headers.
  r.require(*m, "from", "accept_proxy_protocol");
  for (const auto& item : m->items) {
    if (item.key == "timeout") {
      if (auto d = r.read_duration(item, false)) out.timeout = *d;
    } else if (item.key == "from") {
      decode_cidr_list(r, item, out.from);
    }
  }
}

void decode_cidr_list(reader& r, const field& f, std::vector<cidr>& out) {
  const auto blocks = r.read_list(f, "address block");
  for (std::size_t i = 0; blocks && i < blocks->size(); ++i) {
    const auto& b = (*blocks)[i];
    const auto text = r.read_string(b);
    if (!text) continue;
    if (auto c = parse_cidr(*text)) {
      out.push_back(*c);
    } else {
      r.error(b, "invalid address block '" + *text +
                     "' (expected an IP address or CIDR such as 10.0.0.0/8, with no host bits set)");
    }
  }
}

void decode_proxy_version(reader& r, const field& f, pool& out) {
  const auto v = r.read_string(f);
  if (!v) return;
  out.proxy_protocol_pos = r.pos(f);
  if (*v == "v1") {
    out.proxy_protocol = proxy_version::v1;
  } else if (*v == "v2") {
    out.proxy_protocol = proxy_version::v2;
  } else {
    r.error(f, "unknown proxy_protocol '" + *v + "' (expected one of: v1, v2)");
  }
}

}  // namespace lb::config::yaml
