#pragma once
// OCSP stapling from files: each certificate may name a DER OCSP response
// (fetched by cron, certbot or cert-manager, not by lb). The response is
// checked on the control thread when its context is built and attached to
// that context; a worker staples it to handshakes that ask (status_request)
// while its nextUpdate has not passed. lb never fetches a response itself.

#include <ctime>
#include <string>

struct ssl_ctx_st;
struct x509_st;

namespace lb::tls {

// Thread: control. Checks that `der` (the bytes of `file`) is a successful
// OCSP response naming `leaf` and not yet past its nextUpdate, and attaches it
// to `ctx` for that certificate. Otherwise logs a warning naming `file` and
// attaches nothing: the handshake goes on without a staple. `read_error` is
// why the file could not be read, when it could not.
void attach_ocsp(ssl_ctx_st* ctx, x509_st* leaf, const std::string& file, const std::string& der,
                 const std::string& read_error);

}  // namespace lb::tls
