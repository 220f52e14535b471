#include <algorithm>
#include <filesystem>
#include <string>

#include "lb/config/decode.h"
#include "lb/config/validate.h"

namespace lb::config::yaml {
namespace {

const schema tls_schema{"tls",
                        {"certificates", "min_version", "alpn", "ciphers", "handshake_timeout",
                         "reject_unknown_sni", "client_ca", "verify", "crl", "client_cert_headers"},
                        {}};
const schema client_cert_headers_schema{"client_cert_headers", {"subject", "fingerprint"}, {}};
const schema certificate_schema{"certificate", {"cert", "key", "ocsp"}, {}};
const schema sessions_schema{"tls", {"ticket_key_rotation", "ticket_keys_file"}, {}};

// ALPN protocol ids lb has a plane for.
constexpr std::string_view known_alpn[] = {"h2", "http/1.1"};

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
    (item.key == "cert" ? out.cert : item.key == "key" ? out.key : out.ocsp) = resolve_path(out.pos, *v);
  }
}

// A field name lb sets for the client certificate: a token, and none lb
// writes itself or that frames the message.
std::optional<std::string> read_header_name(reader& r, const field& f) {
  const auto v = r.read_string(f);
  if (!v) return std::nullopt;
  const auto name = to_lower(*v);
  if (!is_header_token(*v)) {
    r.error(f, "invalid header name '" + *v + "' in '" + f.key + "'");
    return std::nullopt;
  }
  if (is_reserved_header(name) || name == "host" || name == "x-forwarded-for" || name == "x-real-ip" ||
      name == "x-forwarded-proto" || name == "via") {
    r.error(f, "'" + f.key + "' may not be '" + name + "': lb writes that field itself");
    return std::nullopt;
  }
  return name;
}

void read_client_cert_headers(reader& r, const field& f, listener_tls& out) {
  const auto m = r.read_map(f, client_cert_headers_schema);
  if (!m) return;
  for (const auto& item : m->items) {
    const auto name = read_header_name(r, item);
    if (!name) continue;
    (item.key == "subject" ? out.subject_header : out.fingerprint_header) = *name;
  }
  if (!out.subject_header.empty() && out.subject_header == out.fingerprint_header)
    r.error(f, "'subject' and 'fingerprint' must name different headers");
}

}  // namespace

std::string resolve_path(const source_pos& at, const std::string& path) {
  std::filesystem::path p(path);
  if (p.is_absolute() || at.file.empty()) return path;
  return (std::filesystem::path(at.file).parent_path() / p).lexically_normal().string();
}

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
    } else if (item.key == "client_ca" || item.key == "crl") {
      const auto v = r.read_string(item);
      if (!v) continue;
      if (v->empty()) {
        r.error(item, "'" + item.key + "' must name a file");
        continue;
      }
      auto& pos = item.key == "client_ca" ? out.client_ca_pos : out.crl_pos;
      pos = r.pos(item);
      (item.key == "client_ca" ? out.client_ca : out.crl) = resolve_path(pos, *v);
    } else if (item.key == "verify") {
      if (const auto v = r.read_string(item)) {
        if (*v == "required") out.verify = client_verify::required;
        else if (*v == "optional") out.verify = client_verify::optional;
        else if (*v == "off") out.verify = client_verify::off;
        else r.error(item, "invalid 'verify' '" + *v + "' (expected one of: required, optional, off)");
      }
    } else if (item.key == "client_cert_headers") {
      read_client_cert_headers(r, item, out);
    }
  }
  // A CA without `verify` means client certificates are wanted: required.
  const auto* verify = m->get("verify");
  const auto* ca = m->get("client_ca");
  if (ca && !verify) out.verify = client_verify::required;
  if (verify && out.verify != client_verify::off && !ca)
    r.error(*verify, "'verify: " + verify->value.Scalar() + "' needs 'client_ca' (the CA certificates clients' certificates are checked against)");
  if (const auto* crl = m->get("crl"); crl && (!ca || out.verify == client_verify::off))
    r.error(*crl, "'crl' applies only to client certificates: it needs 'client_ca' and 'verify' other than off");
  if (const auto* h = m->get("client_cert_headers"); h && (!ca || out.verify == client_verify::off))
    r.error(*h, "'client_cert_headers' needs 'client_ca' and 'verify' other than off");
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
        out.ticket_keys_file = resolve_path(out.ticket_keys_file_pos, *v);
      }
    }
  }
}

}  // namespace lb::config::yaml
