#include "lb/tls/ocsp.h"

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <vector>

#include "lb/core/log.h"

namespace lb::tls {

namespace {

// One certificate's response. Read-only once attached, but for the flag that
// keeps a stale staple from logging on every handshake.
struct staple {
  X509* leaf = nullptr;  // a reference of our own
  std::string der;
  std::time_t next_update = 0;  // 0: the response gives none
  std::string file;
  mutable std::atomic<bool> stale_logged{false};
  ~staple() { X509_free(leaf); }
};

using staple_list = std::vector<std::unique_ptr<staple>>;

void free_staples(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) { delete static_cast<staple_list*>(ptr); }

int ctx_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, &free_staples);
  return index;
}

std::time_t to_time(const ASN1_GENERALIZEDTIME* t) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return timegm(&tm);
}

// Thread: worker, during a handshake whose client sent status_request. The
// certificate is chosen by then (SNI, then ECDSA or RSA).
int on_status(SSL* ssl, void*) {
  const auto* list = static_cast<const staple_list*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_index()));
  if (!list) return SSL_TLSEXT_ERR_NOACK;
  const X509* cert = SSL_get_certificate(ssl);
  for (const auto& s : *list) {
    if (s->leaf != cert) continue;
    if (s->next_update && s->next_update < std::time(nullptr)) {
      if (!s->stale_logged.exchange(true))
        log::warn("OCSP response not stapled: its nextUpdate has passed", {{"file", s->file}});
      return SSL_TLSEXT_ERR_NOACK;
    }
    // OpenSSL frees the buffer with the connection's handshake state.
    auto* copy = static_cast<unsigned char*>(OPENSSL_malloc(s->der.size()));
    if (!copy) return SSL_TLSEXT_ERR_NOACK;
    std::memcpy(copy, s->der.data(), s->der.size());
    SSL_set_tlsext_status_ocsp_resp(ssl, copy, static_cast<long>(s->der.size()));
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

// Whether `id` names `leaf`: its serial number and its issuer's name hash
// (the issuer key hash needs the issuer certificate, which the chain may lack).
bool names_cert(OCSP_CERTID* id, X509* leaf) {
  ASN1_OCTET_STRING* name_hash = nullptr;
  ASN1_OBJECT* md_oid = nullptr;
  ASN1_INTEGER* serial = nullptr;
  if (OCSP_id_get0_info(&name_hash, &md_oid, nullptr, &serial, id) != 1) return false;
  if (ASN1_INTEGER_cmp(serial, X509_get0_serialNumber(leaf)) != 0) return false;
  const EVP_MD* md = EVP_get_digestbyobj(md_oid);
  unsigned char hash[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!md || X509_NAME_digest(X509_get_issuer_name(leaf), md, hash, &len) != 1) return false;
  return static_cast<unsigned>(ASN1_STRING_length(name_hash)) == len &&
         std::memcmp(ASN1_STRING_get0_data(name_hash), hash, len) == 0;
}

// Whether `der` is a usable response for `leaf`, with its nextUpdate (0: none); else `why` not.
bool check(const std::string& der, X509* leaf, std::time_t& next_update, std::string& why) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<OCSP_RESPONSE, decltype(&OCSP_RESPONSE_free)> resp(
      d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(der.size())), &OCSP_RESPONSE_free);
  if (!resp) {
    why = "not a DER OCSP response";
    return false;
  }
  if (const int st = OCSP_response_status(resp.get()); st != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
    why = std::string("the responder answered '") + OCSP_response_status_str(st) + "'";
    return false;
  }
  std::unique_ptr<OCSP_BASICRESP, decltype(&OCSP_BASICRESP_free)> basic(OCSP_response_get1_basic(resp.get()),
                                                                         &OCSP_BASICRESP_free);
  if (!basic) {
    why = "not a basic OCSP response";
    return false;
  }
  for (int i = 0; i < OCSP_resp_count(basic.get()); ++i) {
    OCSP_SINGLERESP* single = OCSP_resp_get0(basic.get(), i);
    if (!names_cert(const_cast<OCSP_CERTID*>(OCSP_SINGLERESP_get0_id(single)), leaf)) continue;
    int reason = 0;
    ASN1_GENERALIZEDTIME *revoked = nullptr, *this_update = nullptr, *next = nullptr;
    const int status = OCSP_single_get0_status(single, &reason, &revoked, &this_update, &next);
    next_update = next ? to_time(next) : 0;
    if (next_update && next_update < std::time(nullptr)) {
      why = "stale: its nextUpdate has passed";
      return false;
    }
    // Stapled anyway: the client is entitled to learn it.
    if (status == V_OCSP_CERTSTATUS_REVOKED) log::warn("OCSP response says the certificate is revoked");
    return true;
  }
  why = "the response is not for this certificate";
  return false;
}

}  // namespace

void attach_ocsp(ssl_ctx_st* ctx, x509_st* leaf, const std::string& file, const std::string& der,
                 const std::string& read_error) {
  std::string why = read_error;
  std::time_t next_update = 0;
  if (why.empty() && !check(der, leaf, next_update, why)) why = file + ": " + why;
  ERR_clear_error();
  if (!why.empty()) {
    log::warn("OCSP response not stapled", {{"file", file}, {"error", why}});
    return;
  }
  auto* list = static_cast<staple_list*>(SSL_CTX_get_ex_data(ctx, ctx_index()));
  if (!list) {
    list = new staple_list;
    SSL_CTX_set_ex_data(ctx, ctx_index(), list);
    SSL_CTX_set_tlsext_status_cb(ctx, &on_status);
  }
  auto s = std::make_unique<staple>();
  X509_up_ref(leaf);
  s->leaf = leaf;
  s->der = der;
  s->next_update = next_update;
  s->file = file;
  list->push_back(std::move(s));
}

}  // namespace lb::tls
