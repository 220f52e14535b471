#include "lb/tls/client_auth.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "lb/core/read_file.h"
#include "lb/config/diagnostic.h"
#include "lb/core/log.h"
#include "lb/upstream/live.h"

namespace lb::tls {

namespace {

struct parsed_auth {
  std::vector<X509*> cas;
  std::vector<X509_CRL*> crls;
  ~parsed_auth() {
    for (auto* c : cas) X509_free(c);
    for (auto* c : crls) X509_CRL_free(c);
  }
};

void parse_cas(const std::string& bytes, parsed_auth& out) {
  BIO* b = BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size()));
  while (X509* x = PEM_read_bio_X509(b, nullptr, nullptr, nullptr)) out.cas.push_back(x);
  BIO_free(b);
  ERR_clear_error();  // the end of the file reads as an error
}

// PEM (one or more), else one DER CRL.
void parse_crls(const std::string& bytes, parsed_auth& out) {
  BIO* b = BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size()));
  while (X509_CRL* c = PEM_read_bio_X509_CRL(b, nullptr, nullptr, nullptr)) out.crls.push_back(c);
  BIO_free(b);
  ERR_clear_error();
  if (!out.crls.empty()) return;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  if (X509_CRL* c = d2i_X509_CRL(nullptr, &p, static_cast<long>(bytes.size()))) out.crls.push_back(c);
  ERR_clear_error();
}

// A CRL no CA in the file signed would make every client's check fail
// ("unable to get CRL"): refused when loading instead.
bool issued_by_a_ca(X509_CRL* crl, const parsed_auth& a) {
  for (auto* ca : a.cas)
    if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ca)) == 0 &&
        X509_CRL_verify(crl, X509_get0_pubkey(ca)) == 1)
      return true;
  ERR_clear_error();
  return false;
}

int identity_index();

void free_identity(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<client_identity*>(ptr);
}

int identity_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, &free_identity);
  return index;
}

std::string subject_text(X509* cert) {
  BIO* b = BIO_new(BIO_s_mem());
  X509_NAME_print_ex(b, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long n = BIO_get_mem_data(b, &data);
  std::string out(data, n > 0 ? static_cast<std::size_t>(n) : 0);
  BIO_free(b);
  // RFC 2253 escaping leaves no control byte; this keeps a header value
  // safe whatever an issuer put in a name.
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return out;
}

std::string fingerprint_hex(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  if (X509_digest(cert, EVP_sha256(), md, &len) != 1) return {};
  static constexpr char hex[] = "0123456789abcdef";
  std::string out(len * 2, '0');
  for (unsigned i = 0; i < len; ++i) {
    out[2 * i] = hex[md[i] >> 4];
    out[2 * i + 1] = hex[md[i] & 15];
  }
  return out;
}

}  // namespace

std::shared_ptr<const client_auth> load_client_auth(const config::listener_tls& cfg,
                                                    std::vector<std::string>& errors) {
  if (cfg.verify == config::client_verify::off || cfg.client_ca.empty()) return nullptr;
  auto a = std::make_shared<client_auth>();
  auto parsed = std::make_shared<parsed_auth>();
  std::string why;
  if (!read_file(cfg.client_ca, a->ca_bytes, why)) {
    errors.push_back(config::diagnostic::at(cfg.client_ca_pos, why).str());
    return nullptr;
  }
  parse_cas(a->ca_bytes, *parsed);
  if (parsed->cas.empty()) {
    errors.push_back(
        config::diagnostic::at(cfg.client_ca_pos, "'" + cfg.client_ca + "' holds no PEM certificate").str());
    return nullptr;
  }
  if (!cfg.crl.empty()) {
    if (!read_file(cfg.crl, a->crl_bytes, why)) {
      errors.push_back(config::diagnostic::at(cfg.crl_pos, why).str());
      return nullptr;
    }
    parse_crls(a->crl_bytes, *parsed);
    if (parsed->crls.empty()) {
      errors.push_back(config::diagnostic::at(cfg.crl_pos, "'" + cfg.crl + "' holds no CRL (PEM or DER)").str());
      return nullptr;
    }
    for (auto* crl : parsed->crls) {
      if (!issued_by_a_ca(crl, *parsed)) {
        errors.push_back(config::diagnostic::at(cfg.crl_pos, "a CRL in '" + cfg.crl +
                                                                 "' is not signed by any certificate in '" +
                                                                 cfg.client_ca + "'")
                             .str());
        return nullptr;
      }
      // An expired CRL fails every client's check: worth a loud warning.
      if (const auto* next = X509_CRL_get0_nextUpdate(crl); next && X509_cmp_current_time(next) < 0)
        log::warn("TLS client CRL is past its nextUpdate: every client certificate it covers is refused",
                  {{"crl", cfg.crl}});
    }
  }
  a->parsed = std::move(parsed);
  return a;
}

bool apply_client_auth(ssl_ctx_st* ctx, const config::listener_tls& cfg, const client_auth& auth, std::string& why) {
  const auto& p = *static_cast<const parsed_auth*>(auth.parsed.get());
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
  for (auto* ca : p.cas) {
    X509_STORE_add_cert(store, ca);
    sk_X509_NAME_push(names, X509_NAME_dup(X509_get_subject_name(ca)));
  }
  ERR_clear_error();  // a CA listed twice is "already in hash table": harmless
  SSL_CTX_set_client_CA_list(ctx, names);  // the CertificateRequest names them
  for (auto* crl : p.crls) X509_STORE_add_crl(store, crl);
  if (!p.crls.empty()) X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
  ERR_clear_error();
  const bool required = cfg.verify == config::client_verify::required;
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (required ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), nullptr);
  std::string id = required ? "lb-mtls-required|" : "lb-mtls-optional|";
  id += auth.ca_bytes;
  id += '|';
  id += auth.crl_bytes;
  unsigned char sid[32];
  EVP_Digest(id.data(), id.size(), sid, nullptr, EVP_sha256(), nullptr);
  if (SSL_CTX_set_session_id_context(ctx, sid, sizeof sid) != 1) {
    why = "cannot set the session id context";
    ERR_clear_error();
    return false;
  }
  return true;
}

void record_client_identity(ssl_st* ssl) {
  X509* peer = SSL_get0_peer_certificate(ssl);
  if (!peer || SSL_get_verify_result(ssl) != X509_V_OK) return;
  auto* id = new client_identity{subject_text(peer), fingerprint_hex(peer)};
  if (SSL_set_ex_data(ssl, identity_index(), id) != 1) delete id;
}

const client_identity* client_identity_of(const ssl_st* ssl) {
  if (!ssl) return nullptr;
  return static_cast<const client_identity*>(SSL_get_ex_data(ssl, identity_index()));
}

bool client_cert_failed(const ssl_st* ssl, unsigned long err, client_cert_failure& why, std::string_view& detail) {
  const long result = SSL_get_verify_result(ssl);
  if (ERR_GET_REASON(err) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
    why = client_cert_failure::missing;
    detail = "no client certificate";
    return true;
  }
  if (ERR_GET_REASON(err) != SSL_R_CERTIFICATE_VERIFY_FAILED && result == X509_V_OK) return false;
  detail = X509_verify_cert_error_string(result);
  switch (result) {
    case X509_V_ERR_CERT_REVOKED: why = client_cert_failure::revoked; break;
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID: why = client_cert_failure::expired; break;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_UNTRUSTED:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE: why = client_cert_failure::untrusted; break;
    case X509_V_ERR_UNABLE_TO_GET_CRL:
    case X509_V_ERR_CRL_HAS_EXPIRED:
    case X509_V_ERR_CRL_NOT_YET_VALID:
    case X509_V_ERR_CRL_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER: why = client_cert_failure::crl; break;
    default: why = client_cert_failure::invalid; break;
  }
  return true;
}

}  // namespace lb::tls
