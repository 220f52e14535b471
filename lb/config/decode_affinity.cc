#include "lb/config/decode.h"

#include <chrono>
#include <string>

#include "lb/config/validate.h"

namespace lb::config::yaml {
namespace {

const schema affinity_schema{
    "affinity", {"cookie", "path", "domain", "max_age", "secure", "http_only", "same_site"}, {}};

}  // namespace

void decode_affinity(reader& r, const field& f, affinity_cookie& out) {
  const auto m = r.read_map(f, affinity_schema);
  if (!m) return;
  r.require(*m, "cookie", "affinity");
  for (const auto& item : m->items) {
    if (item.key == "cookie") {
      const auto s = r.read_string(item);
      if (!s) continue;
      // RFC 6265: a cookie-name is a token.
      if (s->empty() || !is_header_token(*s)) r.error(item, "invalid cookie name '" + *s + "' (expected a token)");
      else out.name = *s;
    } else if (item.key == "path") {
      const auto s = r.read_string(item);
      if (!s) continue;
      if (!s->starts_with('/') || !is_cookie_value(*s))
        r.error(item, "invalid cookie path '" + *s + "' (expected '/' then visible characters, no ';')");
      else out.path = *s;
    } else if (item.key == "domain") {
      const auto s = r.read_string(item);
      if (!s) continue;
      // A leading dot is ignored by browsers (RFC 6265 §5.2.3); keep the name alone.
      const std::string name = s->starts_with('.') ? s->substr(1) : *s;
      if (!is_hostname(name)) r.error(item, "invalid cookie domain '" + *s + "' (expected a host name)");
      else out.domain = name;
    } else if (item.key == "max_age") {
      if (auto d = r.read_duration(item, true)) {
        if (d->count() != 0 && *d < std::chrono::seconds(1))
          r.error(item, "'max_age' is whole seconds in the cookie: at least 1s (0: a session cookie)");
        else out.max_age = *d;
      }
    } else if (item.key == "secure") {
      if (const auto b = read_bool(r, item)) out.secure = *b;
    } else if (item.key == "http_only") {
      if (const auto b = read_bool(r, item)) out.http_only = *b;
    } else if (item.key == "same_site") {
      const auto s = r.read_string(item);
      if (!s) continue;
      const std::string v = to_lower(*s);
      if (v == "strict") out.same_site = "Strict";
      else if (v == "lax") out.same_site = "Lax";
      else if (v == "none") out.same_site = "None";
      else r.error(item, "invalid 'same_site' '" + *s + "' (expected one of: strict, lax, none)");
    }
  }
  // Browsers drop a SameSite=None cookie that is not Secure: the affinity
  // would silently never stick.
  if (out.same_site == "None" && !out.secure)
    r.error(m->get("same_site")->key_node.Mark(),
            "'same_site: none' needs 'secure: true' (browsers drop it otherwise)");
}

}  // namespace lb::config::yaml
