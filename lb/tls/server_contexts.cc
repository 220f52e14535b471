#include "lb/tls/server_contexts.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "lb/core/read_file.h"
#include "lb/config/diagnostic.h"
#include "lb/core/log.h"
#include "lb/tls/ocsp.h"

namespace lb::tls {

namespace {

// Mozilla's "intermediate" TLS 1.2 list: forward secrecy and AEAD only (no
// RSA key exchange, no CBC, no SHA-1 MACs). TLS 1.3 suites are OpenSSL's.
constexpr const char* default_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

int ssl_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string openssl_error() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

int on_servername(SSL* ssl, int* alert, void*) {
  const auto* sc = static_cast<const server_contexts*>(SSL_get_ex_data(ssl, ssl_index()));
  if (!sc) return SSL_TLSEXT_ERR_OK;
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  SSL_CTX* ctx = name ? sc->find(name) : nullptr;
  if (!ctx) {
    if (sc->cfg().reject_unknown_sni) {
      *alert = SSL_AD_UNRECOGNIZED_NAME;
      return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    return SSL_TLSEXT_ERR_OK;  // the listener's default certificate
  }
  if (ctx != SSL_get_SSL_CTX(ssl)) SSL_set_SSL_CTX(ssl, ctx);
  return SSL_TLSEXT_ERR_OK;
}

// RFC 7301 §3.2: no protocol in common is a no_application_protocol alert.
int on_alpn(SSL* ssl, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
            void*) {
  const auto* sc = static_cast<const server_contexts*>(SSL_get_ex_data(ssl, ssl_index()));
  if (!sc) return SSL_TLSEXT_ERR_NOACK;
  const auto& ours = sc->alpn_wire();
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, outlen, reinterpret_cast<const unsigned char*>(ours.data()),
                            static_cast<unsigned>(ours.size()), in, inlen) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

// The DNS names a certificate serves: its subjectAltName DNS entries, else
// its subject CN (as browsers no longer do, but old test certificates need).
std::vector<std::string> names_of(X509* cert) {
  std::vector<std::string> names;
  if (auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr))) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* n = sk_GENERAL_NAME_value(sans, i);
      if (n->type != GEN_DNS) continue;
      const auto* s = n->d.dNSName;
      names.push_back(lower({reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                             static_cast<std::size_t>(ASN1_STRING_length(s))}));
    }
    GENERAL_NAMES_free(sans);
  }
  if (names.empty()) {
    char cn[256];
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn) > 0)
      names.push_back(lower(cn));
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

// One certificate file and key file, parsed.
struct loaded {
  X509* leaf = nullptr;
  STACK_OF(X509)* chain = nullptr;
  EVP_PKEY* key = nullptr;
  ~loaded() {
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
    EVP_PKEY_free(key);
  }
};

bool load(const std::string& cert_pem, const std::string& key_pem, const config::tls_certificate& c, loaded& out,
          std::string& why) {
  BIO* cb = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
  out.leaf = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
  out.chain = sk_X509_new_null();
  while (X509* extra = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr)) sk_X509_push(out.chain, extra);
  BIO_free(cb);
  ERR_clear_error();  // the end of the chain reads as an error
  if (!out.leaf) {
    why = "'" + c.cert + "' holds no PEM certificate";
    return false;
  }
  BIO* kb = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  out.key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
  BIO_free(kb);
  if (!out.key) {
    why = "'" + c.key + "' holds no readable PEM private key: " + openssl_error();
    return false;
  }
  if (X509_check_private_key(out.leaf, out.key) != 1) {
    ERR_clear_error();
    why = "the key '" + c.key + "' does not match the certificate '" + c.cert + "'";
    return false;
  }
  if (X509_cmp_current_time(X509_get0_notAfter(out.leaf)) < 0)
    log::warn("TLS certificate has expired", {{"cert", c.cert}});
  return true;
}

std::string settings_text(const config::listener_tls& s) {
  return std::to_string(static_cast<int>(s.min_version)) + "|" + s.ciphers;
}

}  // namespace

ssl_ctx_st* server_contexts::find(std::string_view server_name) const {
  if (server_name.empty()) return nullptr;
  const auto name = lower(server_name);
  if (auto it = exact_.find(name); it != exact_.end()) return it->second;
  const auto dot = name.find('.');
  if (dot == std::string::npos) return nullptr;
  if (auto it = wildcard_.find(name.substr(dot + 1)); it != wildcard_.end()) return it->second;
  return nullptr;
}

ssl_st* server_contexts::new_ssl() const {
  SSL* ssl = SSL_new(default_.get());
  if (!ssl) return nullptr;
  SSL_set_ex_data(ssl, ssl_index(), const_cast<server_contexts*>(this));
  SSL_set_accept_state(ssl);
  return ssl;
}

ctx_ptr context_cache::get(const std::vector<const certificate_files*>& certs, const config::listener_tls& settings,
                           const client_auth* auth, std::string& why) {
  std::string content = settings_text(settings);
  if (auth) {
    // A changed CA or CRL file is a new context (the CRL is "reloaded with
    // the certificates").
    content += settings.verify == config::client_verify::required ? "|required|" : "|optional|";
    content += std::to_string(auth->ca_bytes.size());
    content += ':';
    content += auth->ca_bytes;
    content += std::to_string(auth->crl_bytes.size());
    content += ':';
    content += auth->crl_bytes;
  }
  for (const auto* f : certs) {
    // Appended piece by piece: `"|" + std::string&&` meets GCC 12's false
    // -Wrestrict in Release (GCC bug 105651).
    content += '|';
    content += std::to_string(f->cert.size());
    content += ':';
    content += f->cert;
    content += std::to_string(f->key.size());
    content += ':';
    content += f->key;
    // A changed or vanished staple is a new context too (the old one keeps
    // serving the connections that have it).
    content += std::to_string(f->ocsp.size());
    content += ':';
    content += f->ocsp;
    content += f->ocsp_error.empty() ? '+' : '-';
  }
  unsigned char digest[32];
  EVP_Digest(content.data(), content.size(), digest, nullptr, EVP_sha256(), nullptr);
  const std::string id(reinterpret_cast<const char*>(digest), sizeof digest);
  if (auto it = by_content_.find(id); it != by_content_.end()) return it->second;

  ctx_ptr ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (!ctx) {
    why = "cannot make a TLS context: " + openssl_error();
    return nullptr;
  }
  SSL_CTX* c = ctx.get();
  SSL_CTX_set_min_proto_version(c, settings.min_version == config::tls_version::tls13 ? TLS1_3_VERSION : TLS1_2_VERSION);
  // No renegotiation (a client could make the server redo handshakes at will).
  SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // No SSL_MODE_RELEASE_BUFFERS: it frees and allocates both record buffers
  // (~34 KB) around every record, a large-size malloc and free each time; an
  // idle connection sheds them instead (io::stream::shed_buffers, parking).
  SSL_CTX_set_mode(c, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // Read whole records (and what follows) in one recv(), not a 5-byte header
  // and then its body; bytes read ahead are seen by SSL_has_pending (parking).
  SSL_CTX_set_read_ahead(c, 1);
  if (SSL_CTX_set_cipher_list(c, settings.ciphers.empty() ? default_ciphers : settings.ciphers.c_str()) != 1) {
    why = "no usable cipher in '" + settings.ciphers + "'";
    ERR_clear_error();
    return nullptr;
  }
  // One ticket per handshake (OpenSSL sends two for TLS 1.3 by default).
  SSL_CTX_set_num_tickets(c, 1);
  // The session cache is the context's own, shared by every worker (and kept
  // across reloads with the context) for clients without tickets.
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_SERVER);
  static const unsigned char sid_ctx[] = "lb";
  SSL_CTX_set_session_id_context(c, sid_ctx, sizeof sid_ctx - 1);
  if (auth && !apply_client_auth(c, settings, *auth, why)) return nullptr;
  SSL_CTX_set_tlsext_servername_callback(c, &on_servername);
  SSL_CTX_set_alpn_select_cb(c, &on_alpn, nullptr);
  keys_.attach(c);
  for (const auto* f : certs) {
    loaded l;
    if (!load(f->cert, f->key, *f->cfg, l, why)) return nullptr;
    if (SSL_CTX_use_cert_and_key(c, l.leaf, l.key, l.chain, 1) != 1) {
      why = "cannot use '" + f->cfg->cert + "': " + openssl_error();
      return nullptr;
    }
    if (!f->cfg->ocsp.empty()) attach_ocsp(c, l.leaf, f->cfg->ocsp, f->ocsp, f->ocsp_error);
  }
  by_content_.emplace(id, ctx);
  return ctx;
}

void context_cache::trim() {
  for (auto it = by_content_.begin(); it != by_content_.end();)
    it = it->second.use_count() == 1 ? by_content_.erase(it) : std::next(it);
}

std::shared_ptr<const server_contexts> build_server_contexts(const config::listener_tls& cfg, context_cache& cache,
                                                             std::vector<std::string>& errors) {
  std::shared_ptr<server_contexts> sc(new server_contexts(cfg));
  for (const auto& p : cfg.alpn) sc->alpn_wire_.append(1, static_cast<char>(p.size())).append(p);
  // Each file is read once here; the cache keys contexts by these bytes.
  std::vector<certificate_files> files(cfg.certificates.size());
  bool ok = true;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const auto& c = cfg.certificates[i];
    std::string why;
    files[i].cfg = &c;
    if (!read_file(c.cert, files[i].cert, why) || !read_file(c.key, files[i].key, why)) {
      errors.push_back(config::diagnostic::at(c.pos, why).str());
      ok = false;
    }
    // A staple that cannot be read is a warning (when its context is built), never an error.
    if (!c.ocsp.empty() && !read_file(c.ocsp, files[i].ocsp, files[i].ocsp_error)) files[i].ocsp.clear();
  }
  const auto auth = load_client_auth(cfg, errors);
  if (cfg.verify != config::client_verify::off && !auth) ok = false;
  if (!ok) return nullptr;
  // Group certificates by the names they serve: an ECDSA and an RSA
  // certificate for the same names go into one context.
  std::map<std::vector<std::string>, std::vector<const certificate_files*>> groups;
  std::vector<std::vector<std::string>> order;  // first appearance, so the first certificate stays the default
  for (const auto& f : files) {
    BIO* b = BIO_new_mem_buf(f.cert.data(), static_cast<int>(f.cert.size()));
    X509* x = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
    BIO_free(b);
    ERR_clear_error();
    if (!x) {
      errors.push_back(config::diagnostic::at(f.cfg->pos, "'" + f.cfg->cert + "' holds no PEM certificate").str());
      ok = false;
      continue;
    }
    auto names = names_of(x);
    X509_free(x);
    auto& g = groups[names];
    if (g.empty()) order.push_back(names);
    g.push_back(&f);
  }
  if (!ok) return nullptr;
  for (const auto& names : order) {
    std::string why;
    auto ctx = cache.get(groups[names], cfg, auth.get(), why);
    if (!ctx) {
      errors.push_back(config::diagnostic::at(groups[names].front()->cfg->pos, why).str());
      ok = false;
      continue;
    }
    if (!sc->default_) sc->default_ = ctx;
    for (const auto& n : names) {
      if (n.rfind("*.", 0) == 0) sc->wildcard_.emplace(n.substr(2), ctx.get());
      else sc->exact_.emplace(n, ctx.get());  // the first certificate naming it wins
    }
    sc->all_.push_back(std::move(ctx));
  }
  if (!ok) return nullptr;
  return sc;
}

std::string_view version_label(const ssl_st* ssl) {
  switch (SSL_version(ssl)) {
    case TLS1_3_VERSION: return "1.3";
    case TLS1_2_VERSION: return "1.2";
    default: return "other";
  }
}

}  // namespace lb::tls
