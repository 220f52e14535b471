#include "lb/tls/client_context.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <boost/asio/ip/address.hpp>

#include "lb/core/read_file.h"
#include "lb/config/diagnostic.h"

namespace lb::tls {

namespace {

int slot_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

std::string openssl_error() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

std::string sha256_hex(const std::string& bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &n, EVP_sha256(), nullptr);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < n; ++i) {
    out.push_back(hex[md[i] >> 4]);
    out.push_back(hex[md[i] & 15]);
  }
  return out;
}

// Every session OpenSSL would cache client-side lands in the connection's
// slot: after the handshake for TLS 1.2, on each NewSessionTicket for 1.3.
int on_new_session(SSL* ssl, SSL_SESSION* s) {
  auto* slot = static_cast<session_slot*>(SSL_get_ex_data(ssl, slot_index()));
  if (!slot) return 0;
  slot->set(s);
  return 1;  // the reference is ours now
}

// Access-log reasons, one static string per verify error, so a failure
// costs no allocation and the log line can point at it.
constexpr long max_verify_code = 128;
const std::array<std::string, max_verify_code>& verify_reasons() {
  static const auto table = [] {
    std::array<std::string, max_verify_code> t;
    for (long i = 0; i < max_verify_code; ++i)
      t[static_cast<std::size_t>(i)] = std::string("upstream_tls_verify_failed: ") + X509_verify_cert_error_string(i);
    return t;
  }();
  return table;
}

// Loads every certificate of the PEM bundle `pem` into `store`; how many.
int load_ca(X509_STORE* store, const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (!bio) return 0;
  int n = 0;
  while (X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    if (X509_STORE_add_cert(store, x) == 1) ++n;
    X509_free(x);
  }
  ERR_clear_error();  // the end of the bundle reads as an error
  BIO_free(bio);
  return n;
}

}  // namespace

session_slot::~session_slot() {
  if (session_) SSL_SESSION_free(session_);
}

void session_slot::set(ssl_session_st* s) {
  if (session_) SSL_SESSION_free(session_);
  session_ = s;
}

void session_slot::copy_from(const session_slot& other) {
  if (other.session_) SSL_SESSION_up_ref(other.session_);
  set(other.session_);
}

client_context::~client_context() {
  if (ctx_) SSL_CTX_free(ctx_);
}

ssl_st* client_context::new_ssl(const std::string& host, session_slot* slot) const {
  SSL* ssl = SSL_new(ctx_);
  if (!ssl) return nullptr;
  SSL_set_connect_state(ssl);
  const std::string& name = cfg_.sni.empty() ? host : cfg_.sni;
  boost::system::error_code ec;
  const bool is_ip = cfg_.sni.empty() && (boost::asio::ip::make_address(host, ec), !ec);
  // RFC 6066 §3: no SNI for an IP literal.
  if (!is_ip) SSL_set_tlsext_host_name(ssl, name.c_str());
  if (cfg_.verify) {
    const bool named = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) == 1
                             : SSL_set1_host(ssl, name.c_str()) == 1;
    if (!named) {
      SSL_free(ssl);
      return nullptr;
    }
  }
  if (slot) {
    SSL_set_ex_data(ssl, slot_index(), slot);
    if (auto* s = slot->get(); s && SSL_SESSION_is_resumable(s)) SSL_set_session(ssl, s);
  }
  return ssl;
}

std::shared_ptr<const client_context> build_client_context(const config::pool_tls& cfg,
                                                           std::vector<std::string>& errors, bool h2) {
  (void)verify_reasons();  // built here, on the control thread, not by the first failing worker
  std::shared_ptr<client_context> out(new client_context(cfg));
  out->ctx_ = SSL_CTX_new(TLS_client_method());
  if (!out->ctx_) {
    errors.push_back(config::diagnostic::at(cfg.pos, "cannot create a TLS context: " + openssl_error()).str());
    return nullptr;
  }
  SSL_CTX* ctx = out->ctx_;
  SSL_CTX_set_min_proto_version(ctx, cfg.min_version == config::tls_version::tls13 ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  // As on listeners: one recv() per record, not a header and then its body.
  SSL_CTX_set_read_ahead(ctx, 1);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, on_new_session);
  std::string identity = "min=" + std::to_string(static_cast<int>(cfg.min_version)) + "|sni=" + cfg.sni +
                         "|verify=" + (cfg.verify ? "1" : "0") + (h2 ? "|alpn=h2" : "");
  if (h2) {
    static constexpr unsigned char alpn[] = {2, 'h', '2'};
    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn);
  }
  bool ok = true;
  const auto fail = [&](const config::source_pos& at, const std::string& why) {
    errors.push_back(config::diagnostic::at(at, why).str());
    ok = false;
  };
  if (cfg.verify) SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (!cfg.ca.empty()) {
    std::string pem, why;
    if (!read_file(cfg.ca, pem, why)) {
      fail(cfg.ca_pos, why);
    } else if (load_ca(SSL_CTX_get_cert_store(ctx), pem) == 0) {
      fail(cfg.ca_pos, "'" + cfg.ca + "' holds no PEM certificate");
    }
    identity += "|ca=" + sha256_hex(pem);
  } else if (cfg.verify) {
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) fail(cfg.pos, "cannot load the system trust store: " + openssl_error());
    identity += "|ca=system";
  }
  if (!cfg.client_cert.empty() && !cfg.client_key.empty()) {
    std::string cert, key, why;
    if (!read_file(cfg.client_cert, cert, why)) {
      fail(cfg.client_cert_pos, why);
    } else if (SSL_CTX_use_certificate_chain_file(ctx, cfg.client_cert.c_str()) != 1) {
      fail(cfg.client_cert_pos, "'" + cfg.client_cert + "' is not a PEM certificate chain: " + openssl_error());
    } else if (!read_file(cfg.client_key, key, why)) {
      fail(cfg.client_key_pos, why);
    } else if (SSL_CTX_use_PrivateKey_file(ctx, cfg.client_key.c_str(), SSL_FILETYPE_PEM) != 1) {
      fail(cfg.client_key_pos, "'" + cfg.client_key + "' is not a PEM private key: " + openssl_error());
    } else if (SSL_CTX_check_private_key(ctx) != 1) {
      fail(cfg.client_key_pos, "'" + cfg.client_key + "' does not match the certificate in '" + cfg.client_cert + "'");
      ERR_clear_error();
    }
    identity += "|cert=" + sha256_hex(cert) + "|key=" + sha256_hex(key);
  }
  if (!ok) return nullptr;
  out->identity_ = std::move(identity);
  return out;
}

handshake_failure classify_failure(const ssl_st* ssl) {
  const long code = SSL_get_verify_result(ssl);
  if (code == X509_V_OK) return {false, "upstream_tls_failed"};
  if (code > 0 && code < max_verify_code) return {true, verify_reasons()[static_cast<std::size_t>(code)]};
  return {true, "upstream_tls_verify_failed"};
}

}  // namespace lb::tls
