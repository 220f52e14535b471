#include "lb/tls/handshake.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <chrono>
#include <new>
#include <string>

#include "lb/core/ip_text.h"
#include "lb/core/log.h"
#include "lb/io/tls_stream.h"
#include "lb/listener/stage_guard.h"
#include "lb/runtime/memory.h"
#include "lb/runtime/worker.h"
#include "lb/tls/client_auth.h"
#include "lb/tls/server_contexts.h"

namespace lb::tls {

namespace {

upstream::tls_failure reason_of(unsigned long err, bool timed_out, bool closed) {
  if (timed_out) return upstream::tls_failure::timeout;
  if (closed) return upstream::tls_failure::closed;
  switch (ERR_GET_REASON(err)) {
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_VERSION_TOO_HIGH:
    case SSL_R_NO_PROTOCOLS_AVAILABLE: return upstream::tls_failure::version;
    case SSL_R_NO_SHARED_CIPHER: return upstream::tls_failure::cipher;
    case SSL_R_CALLBACK_FAILED: return upstream::tls_failure::sni;  // reject_unknown_sni
    default: return upstream::tls_failure::protocol;
  }
}

// Counts a handshake the client's certificate failed, and logs it at most
// once a second per worker and listener, with how many went unlogged since.
void client_cert_refused(upstream::listener_worker_stats& stats, const runtime::listener_snapshot& ls,
                         const listener::accepted_connection& c, upstream::client_cert_failure why,
                         std::string_view detail) {
  stats.client_cert_failures[static_cast<std::size_t>(why)].add();
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::steady_clock::now().time_since_epoch())
                       .count();
  if (now == stats.cert_log_second) {
    ++stats.cert_log_suppressed;
    return;
  }
  stats.cert_log_second = now;
  const auto suppressed = std::to_string(stats.cert_log_suppressed);
  stats.cert_log_suppressed = 0;
  log::warn("TLS client certificate refused", {{"listener", ls.cfg->name},
                                               {"client", ip_text(c.peer)},
                                               {"reason", upstream::client_cert_failure_names[static_cast<int>(why)]},
                                               {"detail", detail},
                                               {"suppressed_since_last", suppressed}});
}

}  // namespace

boost::asio::awaitable<bool> handshake_stage(runtime::worker& w, const runtime::listener_snapshot& ls,
                                             listener::accepted_connection& c) {
  auto& stats = ls.live->stats[w.id()];
  auto* plain = dynamic_cast<io::socket_stream*>(c.stream.get());
  if (!plain || !ls.tls) co_return false;  // c.stream still owns it and closes it
  std::unique_ptr<io::socket_stream> raw(plain);
  c.stream.release();
  SSL* ssl = ls.tls->new_ssl();
  if (!ssl) {  // SSL_new fails only when out of memory
    runtime::memory::note_failure(runtime::memory::plane::stage);
    co_return false;
  }
  std::unique_ptr<io::tls_stream> tls;
  try {
    tls = std::make_unique<io::tls_stream>(std::move(raw), ssl);
  } catch (const std::bad_alloc&) {
    SSL_free(ssl);  // not yet owned by a stream
    throw;
  }
  listener::stage_guard guard(w, std::move(c.ticket), *tls, ls.cfg->tls->handshake_timeout);
  const auto ec = co_await tls->handshake();
  c.ticket = guard.give_back();
  if (ec) {
    auto why = reason_of(tls->last_error(), guard.timed_out, ec == boost::asio::error::connection_aborted);
    upstream::client_cert_failure cert_why{};
    std::string_view detail;
    if (ls.cfg->tls->verify != config::client_verify::off && !guard.timed_out &&
        client_cert_failed(ssl, tls->last_error(), cert_why, detail)) {
      why = upstream::tls_failure::client_cert;
      client_cert_refused(stats, ls, c, cert_why, detail);
    }
    stats.tls_failures[static_cast<std::size_t>(why)].add();
    if (ERR_GET_REASON(tls->last_error()) == ERR_R_MALLOC_FAILURE)
      runtime::memory::note_failure(runtime::memory::plane::stage);
    co_return false;
  }
  // Once per connection: the verified certificate's subject and fingerprint
  // stay on the SSL (and so across parking) for every request's upstream head.
  if (ls.cfg->tls->verify != config::client_verify::off) record_client_identity(ssl);
  stats.tls_handshakes[SSL_version(ssl) == TLS1_3_VERSION ? 1 : 0][SSL_session_reused(ssl) ? 1 : 0].add();
  c.stream = std::move(tls);
  co_return true;
}

}  // namespace lb::tls
