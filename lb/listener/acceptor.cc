#include "lb/listener/acceptor.h"

#include <boost/asio/steady_timer.hpp>

#include "lb/core/log.h"
#include "lb/io/socket_stream.h"
#include "lb/listener/plane.h"
#include "lb/runtime/worker.h"

namespace lb::listener {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// Resource exhaustion (EMFILE, ENFILE, ENOBUFS) would make an immediate
// re-accept spin; back off briefly instead (nginx disables accept for a while too).
void accept_later(runtime::worker& w, std::shared_ptr<runtime::worker_listener> l) {
  auto timer = std::make_shared<asio::steady_timer>(w.io(), std::chrono::milliseconds(100));
  timer->async_wait([&w, l = std::move(l), timer](boost::system::error_code) {
    if (l->acceptor.is_open()) start_accepting(w, l);
  });
}

}  // namespace

void start_accepting(runtime::worker& w, std::shared_ptr<runtime::worker_listener> listener) {
  auto& l = *listener;
  // accept4 fills in the peer's address: no getpeername per connection.
  // A completion queued before a reload closed the acceptor still runs: it
  // finds the listener alive and closed, and drops the connection.
  l.acceptor.async_accept(l.peer, [&w, listener = std::move(listener)](boost::system::error_code ec,
                                                                      tcp::socket sock) mutable {
    auto& l = *listener;
    if (ec == asio::error::operation_aborted || !l.acceptor.is_open()) return;
    if (ec) {
      log::warn("accept failed", {{"error", ec.message()}});
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
      ls.path.start(w, {runtime::connection_ticket(l.live, w.id()), std::make_unique<io::socket_stream>(std::move(sock)),
                        l.peer.address(), *index, l.peer.port(), nullptr});
    }
    start_accepting(w, std::move(listener));
  });
}

}  // namespace lb::listener
