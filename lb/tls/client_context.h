#pragma once
// The client side of upstream TLS: one SSL_CTX per pool with `tls:` (trust
// store, client certificate, minimum version), built on the control thread
// with the snapshot and read by every worker when it opens a connection.
// Per connection: SNI and the name verified come from the pool's `sni` or the
// endpoint's hostname (an IP literal endpoint sends no SNI and is verified
// against the certificate's IP addresses).
//
// Resumption: each worker keeps the newest session per endpoint in a
// session_slot (never shared, never locked); OpenSSL's new-session callback
// fills it, which also catches TLS 1.3 tickets that arrive after the handshake.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lb/config/config.h"

struct ssl_ctx_st;
struct ssl_st;
struct ssl_session_st;

namespace lb::tls {

// One endpoint's session to resume, on one worker. Thread: that worker.
class session_slot {
 public:
  session_slot() = default;
  ~session_slot();
  session_slot(const session_slot&) = delete;
  session_slot& operator=(const session_slot&) = delete;

  ssl_session_st* get() const { return session_; }
  // Takes `s` (its reference), dropping the one held before.
  void set(ssl_session_st* s);
  // Shares the session of `other` (a reload keeping the endpoint).
  void copy_from(const session_slot& other);

 private:
  ssl_session_st* session_ = nullptr;
};

class client_context {
 public:
  ~client_context();
  client_context(const client_context&) = delete;
  client_context& operator=(const client_context&) = delete;

  const config::pool_tls& cfg() const { return cfg_; }
  // What a pooled connection's TLS depends on (settings and file contents):
  // connections and sessions move across a reload only when it is equal.
  const std::string& identity() const { return identity_; }

  // Thread: worker. A client SSL for an endpoint configured as `host`, the
  // session in `slot` offered for resumption and new ones stored there
  // (`slot` must outlive the SSL). nullptr when OpenSSL cannot make one.
  ssl_st* new_ssl(const std::string& host, session_slot* slot) const;

 private:
  friend std::shared_ptr<const client_context> build_client_context(const config::pool_tls&,
                                                                     std::vector<std::string>&, bool);
  explicit client_context(const config::pool_tls& cfg) : cfg_(cfg) {}

  config::pool_tls cfg_;
  std::string identity_;
  ssl_ctx_st* ctx_ = nullptr;
};

// Thread: control. The context of a pool's `tls:`; each problem with a file
// is appended as "FILE:LINE:COL: message" (at its key) and null returned.
// `h2`: the pool speaks HTTP/2, offered by ALPN (and required of the endpoint).
std::shared_ptr<const client_context> build_client_context(const config::pool_tls& cfg,
                                                           std::vector<std::string>& errors, bool h2 = false);

// Why a client handshake failed, for the access log and the metric.
struct handshake_failure {
  bool verify = false;     // the certificate was refused (chain, name, dates)
  std::string_view reason; // static text: "upstream_tls_verify_failed: <why>" or "upstream_tls_failed"
};

// Thread: worker. Classifies the failed handshake of `ssl`.
handshake_failure classify_failure(const ssl_st* ssl);

}  // namespace lb::tls
