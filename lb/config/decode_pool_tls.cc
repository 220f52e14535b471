// A pool's `tls:` (upstream TLS). The files it names are read and checked
// when the snapshot is built (tls::build_client_context), not here.
#include <filesystem>
#include <string>

#include "lb/config/decode.h"

namespace lb::config::yaml {
namespace {

const schema pool_tls_schema{"tls", {"ca", "sni", "verify", "client_cert", "client_key", "min_version"}, {}};

// Relative paths are taken from the config file's folder, as for a
// listener's certificates.
std::string resolve(const source_pos& at, const std::string& path) {
  std::filesystem::path p(path);
  if (p.is_absolute() || at.file.empty()) return path;
  return (std::filesystem::path(at.file).parent_path() / p).lexically_normal().string();
}

// A DNS name as sent in SNI: letters, digits, '-' and '.', at most 253 bytes.
bool is_dns_name(const std::string& s) {
  if (s.empty() || s.size() > 253 || s.front() == '.' || s.front() == '-') return false;
  for (const char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '.' || c == '_';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

void decode_pool_tls(reader& r, const field& f, pool& out) {
  // `tls: true` / `tls: false`: the defaults, or no TLS at all.
  if (f.value.IsScalar()) {
    const auto& v = f.value.Scalar();
    if (v == "true" || v == "on") {
      out.tls.emplace().pos = r.pos(f);
    } else if (v != "false" && v != "off") {
      r.error(f, "invalid 'tls': expected true, false or a map (ca, sni, verify, client_cert, client_key, "
                 "min_version), got " + describe(f.value));
    }
    return;
  }
  const auto m = r.read_map(f, pool_tls_schema);
  if (!m) return;
  auto& t = out.tls.emplace();
  t.pos = r.pos(f);
  const field* cert = nullptr;
  const field* key = nullptr;
  for (const auto& item : m->items) {
    if (item.key == "verify") {
      const auto v = r.read_string(item);
      if (!v) continue;
      if (*v == "true" || *v == "on") t.verify = true;
      else if (*v == "false" || *v == "off") t.verify = false;
      else r.error(item, "invalid 'verify': expected true or false, got '" + *v + "'");
    } else if (item.key == "min_version") {
      const auto v = r.read_string(item);
      if (!v) continue;
      if (*v == "1.2") t.min_version = tls_version::tls12;
      else if (*v == "1.3") t.min_version = tls_version::tls13;
      else r.error(item, "invalid 'min_version' '" + *v + "' (expected one of: 1.2, 1.3; 1.0 and 1.1 are insecure)");
    } else if (item.key == "sni") {
      const auto v = r.read_string(item);
      if (!v) continue;
      if (!is_dns_name(*v)) r.error(item, "invalid 'sni': expected a DNS name, got " + describe(item.value));
      else t.sni = *v;
    } else {
      const auto v = r.read_string(item);
      if (!v) continue;
      if (v->empty()) {
        r.error(item, "'" + item.key + "' must name a file");
        continue;
      }
      const auto at = r.pos(item);
      const auto path = resolve(at, *v);
      if (item.key == "ca") {
        t.ca = path;
        t.ca_pos = at;
      } else if (item.key == "client_cert") {
        t.client_cert = path;
        t.client_cert_pos = at;
        cert = &item;
      } else {
        t.client_key = path;
        t.client_key_pos = at;
        key = &item;
      }
    }
  }
  // One without the other cannot authenticate: say so rather than send no certificate.
  if (cert && !key) r.error(cert->key_node.Mark(), "'client_cert' needs 'client_key' (the certificate's private key)");
  if (key && !cert) r.error(key->key_node.Mark(), "'client_key' needs 'client_cert'");
}

}  // namespace lb::config::yaml
