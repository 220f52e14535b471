#include <algorithm>
#include <filesystem>
#include <string>

#include "lb/config/decode.h"

namespace lb::config::yaml {
namespace {

const schema tls_schema{"tls",
                        {"certificates", "min_version", "alpn", "ciphers", "handshake_timeout",
                         "reject_unknown_sni"},
                        {"client_ca", "verify"}};
const schema certificate_schema{"certificate", {"cert", "key", "ocsp"}, {}};
const schema sessions_schema{"tls", {"ticket_key_rotation", "ticket_keys_file"}, {}};

// ALPN protocol ids lb has a plane for.
constexpr std::string_view known_alpn[] = {"h2", "http/1.1"};

// A path as written, taken from the config file's folder when relative (as a
// user reading the config would read it), so `certs/a.crt` works from any cwd.
std::string resolve(const source_pos& at, const std::string& path) {
  std::filesystem::path p(path);
  if (p.is_absolute() || at.file.empty()) return path;
  return (std::filesystem::path(at.file).parent_path() / p).lexically_normal().string();
}

void read_certificate(reader& r, const field& f, tls_certificate& out) {
  out.pos = r.pos(f);
  const auto m = r.read_map(f, certificate_schema);
  if (!m) return;
  r.require(*m, "cert", "certificate");
  r.require(*m, "key", "certificate");
  for (const auto& item : m->items) {
    auto v = r.read_string(item);
    if (!v) continue;
    if (v->empty()) {
      r.error(item, "'" + item.key + "' must name a file");
      continue;
    }
    (item.key == "cert" ? out.cert : item.key == "key" ? out.key : out.ocsp) = resolve(out.pos, *v);
  }
}

std::optional<bool> read_bool(reader& r, const field& f) {
  const auto v = r.read_string(f);
  if (!v) return std::nullopt;
  if (*v == "true") return true;
  if (*v == "false") return false;
  r.error(f, "invalid '" + f.key + "': expected true or false, got '" + *v + "'");
  return std::nullopt;
}

}  // namespace

void decode_listener_tls(reader& r, const field& f, listener_tls& out) {
  const auto m = r.read_map(f, tls_schema);
  if (!m) return;
  r.require(*m, "certificates", "tls");
  for (const auto& item : m->items) {
    if (item.key == "certificates") {
      const auto list = r.read_list(item, "certificate");
      for (std::size_t i = 0; list && i < list->size(); ++i)
        read_certificate(r, (*list)[i], out.certificates.emplace_back());
    } else if (item.key == "min_version") {
      // TLS 1.0 and 1.1 are refused outright (RFC 8996).
      if (const auto v = r.read_string(item)) {
        if (*v == "1.2") out.min_version = tls_version::tls12;
        else if (*v == "1.3") out.min_version = tls_version::tls13;
        else r.error(item, "invalid 'min_version' '" + *v + "' (expected one of: 1.2, 1.3; 1.0 and 1.1 are insecure)");
      }
    } else if (item.key == "alpn") {
      const auto list = r.read_list(item, "protocol");
      if (list) out.alpn.clear();
      for (std::size_t i = 0; list && i < list->size(); ++i) {
        const auto v = r.read_string((*list)[i]);
        if (!v) continue;
        if (std::find(std::begin(known_alpn), std::end(known_alpn), *v) == std::end(known_alpn))
          r.error((*list)[i], "unknown ALPN protocol '" + *v + "' (expected one of: h2, http/1.1)");
        else
          out.alpn.push_back(*v);
      }
    } else if (item.key == "ciphers") {
      if (const auto v = r.read_string(item)) out.ciphers = *v;
    } else if (item.key == "handshake_timeout") {
      if (const auto d = r.read_duration(item, false)) out.handshake_timeout = *d;
    } else if (item.key == "reject_unknown_sni") {
      if (const auto b = read_bool(r, item)) out.reject_unknown_sni = *b;
    }
  }
}

void decode_tls_sessions(reader& r, const field& f, tls_sessions& out) {
  const auto m = r.read_map(f, sessions_schema);
  if (!m) return;
  for (const auto& item : m->items) {
    if (item.key == "ticket_key_rotation") {
      if (const auto d = r.read_duration(item, false)) out.ticket_key_rotation = *d;
    } else if (item.key == "ticket_keys_file") {
      if (const auto v = r.read_string(item)) {
        out.ticket_keys_file_pos = r.pos(item);
        out.ticket_keys_file = resolve(out.ticket_keys_file_pos, *v);
      }
    }
  }
}

}  // namespace lb::config::yaml
