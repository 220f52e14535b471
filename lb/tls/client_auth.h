#pragma once
// Client certificates on a TLS listener (mTLS): the CA certificates and CRLs
// a context checks them against, the verified client's identity (worked out
// once per connection, kept on its SSL so it survives parking), and why a
// handshake failed because of the client's certificate.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lb/config/config.h"

struct ssl_ctx_st;
struct ssl_st;
struct x509_st;
struct X509_crl_st;

namespace lb::upstream {
enum class client_cert_failure : std::uint8_t;  // lb/upstream/live.h
}

namespace lb::tls {

using upstream::client_cert_failure;

// A listener's `client_ca` and `crl` files, read and parsed once per build.
struct client_auth {
  std::string ca_bytes;
  std::string crl_bytes;
  std::shared_ptr<void> parsed;  // the certificates and CRLs (client_auth.cc)
};

// Thread: control. Reads and checks `cfg`'s client_ca and crl; each problem
// is appended as "FILE:LINE:COL: message". Null when client certificates are
// off or a file is bad (then `errors` says so).
std::shared_ptr<const client_auth> load_client_auth(const config::listener_tls& cfg,
                                                    std::vector<std::string>& errors);

// Thread: control. Makes `ctx` ask for and check client certificates as
// `cfg.verify` says, against `auth`. The session id context is tied to the
// CA and CRL bytes, so a session made without a certificate (or before a
// revocation) never resumes where one is checked.
bool apply_client_auth(ssl_ctx_st* ctx, const config::listener_tls& cfg, const client_auth& auth, std::string& why);

// The verified client certificate of a connection.
struct client_identity {
  std::string subject;      // RFC 2253
  std::string fingerprint;  // SHA-256 of the DER certificate, lower-case hex
};

// Thread: owning worker. After a handshake: records the peer's verified
// certificate (if any) on `ssl`; it lives as long as `ssl`.
void record_client_identity(ssl_st* ssl);
// Thread: owning worker. What record_client_identity() kept, or null.
const client_identity* client_identity_of(const ssl_st* ssl);

// Thread: owning worker. Whether the failed handshake on `ssl`, whose last
// OpenSSL error was `err`, was the client certificate's fault, and why.
// `detail` is OpenSSL's text for the log.
bool client_cert_failed(const ssl_st* ssl, unsigned long err, client_cert_failure& why, std::string_view& detail);

}  // namespace lb::tls
