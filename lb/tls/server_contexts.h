#pragma once
// What a TLS listener serves: one SSL_CTX per certificate (an ECDSA and an RSA
// certificate for the same names share one, so each client gets the kind it
// offers), found by the client's SNI with one hash lookup: the exact name
// first, then the `*.` wildcard one label up, then the listener's default.
// Built on the control thread (HAProxy's ckch store idea: a context is reused
// across reloads and DNS refreshes while its files and settings stay the
// same, so resumption state and memory survive them); read by every worker
// during handshakes, never changed after it is built.

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "lb/config/config.h"
#include "lb/tls/client_auth.h"
#include "lb/tls/ticket_keys.h"

struct ssl_ctx_st;
struct ssl_st;

namespace lb::tls {

using ctx_ptr = std::shared_ptr<ssl_ctx_st>;

class context_cache;

// One `certificates` item with its files' bytes, read once per build.
struct certificate_files {
  const config::tls_certificate* cfg = nullptr;
  std::string cert;
  std::string key;
  std::string ocsp;        // the staple's bytes, when `cfg->ocsp` names one
  std::string ocsp_error;  // why that file could not be read
};

class server_contexts {
 public:
  // Thread: any. The context for `server_name` (empty: none sent), or null
  // when the name is unknown.
  ssl_ctx_st* find(std::string_view server_name) const;
  ssl_ctx_st* default_ctx() const { return default_.get(); }
  const config::listener_tls& cfg() const { return cfg_; }
  // ALPN protocol ids in wire format (length-prefixed), in preference order.
  const std::string& alpn_wire() const { return alpn_wire_; }

  // Thread: worker. A new server-side SSL for a connection on this listener
  // (nullptr when OpenSSL cannot make one).
  ssl_st* new_ssl() const;

  // Thread: control. Whether `o` serves exactly these contexts (nothing the
  // files hold changed since `o` was built).
  bool same_contexts(const server_contexts& o) const { return all_ == o.all_; }

 private:
  friend std::shared_ptr<const server_contexts> build_server_contexts(const config::listener_tls&, context_cache&,
                                                                     std::vector<std::string>&);
  explicit server_contexts(const config::listener_tls& cfg) : cfg_(cfg) {}

  config::listener_tls cfg_;
  std::string alpn_wire_;
  ctx_ptr default_;
  std::vector<ctx_ptr> all_;
  std::unordered_map<std::string, ssl_ctx_st*> exact_;     // lower-case name
  std::unordered_map<std::string, ssl_ctx_st*> wildcard_;  // "example.com" for *.example.com
};

// Contexts by content: the bytes of their files plus the settings. Control
// thread only.
class context_cache {
 public:
  explicit context_cache(ticket_keys& keys) : keys_(keys) {}
  // A context for these files and settings (`auth`: the client
  // certificates' CA and CRL, null when not checked): the cached one when
  // nothing changed, else a new one. On failure returns null and sets `why`.
  ctx_ptr get(const std::vector<const certificate_files*>& certs, const config::listener_tls& settings,
              const client_auth* auth, std::string& why);
  // Forgets contexts no snapshot holds any more (after a build).
  void trim();
  ticket_keys& keys() { return keys_; }

 private:
  ticket_keys& keys_;
  std::unordered_map<std::string, ctx_ptr> by_content_;
};

// Thread: control. The contexts of a listener's `tls:`; each problem with a
// certificate or key is appended as "FILE:LINE:COL: message" (at the list
// item) and null returned.
std::shared_ptr<const server_contexts> build_server_contexts(const config::listener_tls& cfg, context_cache& cache,
                                                             std::vector<std::string>& errors);

// Thread: any. "TLSv1.3" -> "1.3", for metric labels.
std::string_view version_label(const ssl_st* ssl);

}  // namespace lb::tls
