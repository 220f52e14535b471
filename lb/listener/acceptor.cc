#include "lb/listener/acceptor.h"

#include <new>

#include <boost/asio/steady_timer.hpp>

#include "lb/core/log.h"
#include "lb/io/socket_stream.h"
#include "lb/listener/client_limits.h"
#include "lb/listener/plane.h"
#include "lb/runtime/memory.h"
#include "lb/runtime/worker.h"

namespace lb::listener {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// One log line per listener and worker in this interval, however long
// accept() keeps failing: a full descriptor table must not flood the log.
constexpr auto accept_log_interval = std::chrono::seconds(10);
// The pause after a failed accept(): the pending connections wait in the
// kernel's backlog, and no loop spins on an error that persists.
constexpr auto accept_pause = std::chrono::milliseconds(100);

upstream::accept_error classify(const boost::system::error_code& ec) {
  if (ec == asio::error::no_descriptors || ec.value() == ENFILE) return upstream::accept_error::fd_limit;
  if (ec == asio::error::no_buffer_space || ec == asio::error::no_memory) return upstream::accept_error::memory;
  return upstream::accept_error::other;
}

void note_accept_error(runtime::worker& w, runtime::worker_listener& l, const boost::system::error_code& ec) {
  const auto kind = classify(ec);
  l.live->stats[w.id()].accept_errors[static_cast<std::size_t>(kind)].add();
  ++l.accept_errors_unlogged;
  const auto now = std::chrono::steady_clock::now();
  if (l.accept_error_logged != std::chrono::steady_clock::time_point{} && now - l.accept_error_logged < accept_log_interval)
    return;
  log::warn("accept failed: pausing accepts", {{"listener", l.live->name},
                                               {"worker", std::to_string(w.id())},
                                               {"error", ec.message()},
                                               {"reason", upstream::accept_error_names[static_cast<std::size_t>(kind)]},
                                               {"failures", std::to_string(l.accept_errors_unlogged)}});
  l.accept_error_logged = now;
  l.accept_errors_unlogged = 0;
}

// Resource exhaustion (EMFILE, ENFILE, ENOBUFS) would make an immediate
// re-accept spin; back off briefly instead (nginx disables accept for a while too).
void accept_later(runtime::worker& w, std::shared_ptr<runtime::worker_listener> l) {
  auto timer = std::make_shared<asio::steady_timer>(w.io(), accept_pause);
  timer->async_wait([&w, l = std::move(l), timer](boost::system::error_code) {
    if (l->acceptor.is_open()) start_accepting(w, l);
  });
}

}  // namespace

void start_accepting(runtime::worker& w, std::shared_ptr<runtime::worker_listener> listener) {
  // Over memory_high: no accept until lb is back under (polled, like a full
  // descriptor table; one timer per listener and worker).
  if (w.accepts_paused()) return accept_later(w, std::move(listener));
  auto& l = *listener;
  // accept4 fills in the peer's address: no getpeername per connection.
  // A completion queued before a reload closed the acceptor still runs: it
  // finds the listener alive and closed, and drops the connection.
  l.acceptor.async_accept(l.peer, [&w, listener = std::move(listener)](boost::system::error_code ec,
                                                                      tcp::socket sock) mutable {
    auto& l = *listener;
    if (!l.acceptor.is_open()) return;
    if (ec == asio::error::operation_aborted) {
      // Cancelled (the acceptor still open) by the worker's sweep going over
      // memory_high: poll until lb is back under.
      accept_later(w, std::move(listener));
      return;
    }
    if (ec) {
      note_accept_error(w, l, ec);
      accept_later(w, std::move(listener));
      return;
    }
    // This acceptor's listener in the current snapshot (a reload that drops
    // it closes the acceptor on this thread first).
    const auto& snap = *w.current()->snap;
    const auto index = runtime::find_listener(snap, l.live.get());
    if (!index) return;
    const auto& ls = snap.listeners[*index];
    if (l.live->open.fetch_add(1, std::memory_order_relaxed) >= ls.cfg->limits.max_connections) {
      // Over max_connections: refuse at once rather than queue (nginx's
      // worker_connections behaves alike).
      l.live->open.fetch_sub(1, std::memory_order_relaxed);
      boost::system::error_code ignored;
      sock.close(ignored);
    } else {
      try {
        accepted_connection c{runtime::connection_ticket(l.live, w.id()),
                              std::make_unique<io::socket_stream>(std::move(sock)), l.peer.address(), *index,
                              l.peer.port(), nullptr};
        // Per-client limits: here, unless a PROXY header is yet to name the
        // client (then a stage after it checks). A refused connection closes
        // as `c` goes.
        if (!ls.cfg->client_limits || ls.cfg->accept_proxy || admit_connection(w.id(), ls, c))
          ls.path.start(w, std::move(c));
      } catch (const std::bad_alloc&) {
        // Out of memory setting the connection up: it closes as what was
        // built of it unwinds (ticket, stream); the listener goes on.
        runtime::memory::note_failure(runtime::memory::plane::accept);
      }
    }
    try {
      start_accepting(w, listener);
    } catch (const std::bad_alloc&) {
      // Not even the next accept could be queued: try again after a pause.
      runtime::memory::note_failure(runtime::memory::plane::accept);
      accept_later(w, std::move(listener));
    }
  });
}

}  // namespace lb::listener
