#include "lb/listener/plane.h"

#include <stdexcept>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "lb/listener/client_limits.h"
#include "lb/proto/h2/plane.h"
#include "lb/proto/http/connection.h"
#include "lb/proto/proxy/stage.h"
#include "lb/proto/tcp/session.h"
#include "lb/tls/handshake.h"
#include "lb/runtime/memory.h"
#include "lb/runtime/worker.h"

namespace lb::listener {

connection_path path_for(const config::listener& l) {
  connection_path p;
  switch (l.proto) {
    case config::protocol::http:
      // HTTP/1 only: straight to its plane; with h2, a negotiation first.
      p.plane = l.h2 ? &proto::h2::start_negotiated : &proto::http::start_connection;
      break;
    case config::protocol::tcp: p.plane = &proto::tcp::start_session; break;
  }
  // The PROXY header comes first on the wire, ahead of any TLS record.
  if (l.accept_proxy) p.stages.push_back(&proto::proxy::accept_stage);
  // The client's limits once the PROXY header named it (without one the
  // acceptor checks them), before a TLS handshake costs anything.
  if (l.accept_proxy && l.client_limits) p.stages.push_back(&client_limits_stage);
  if (l.tls) p.stages.push_back(&tls::handshake_stage);
  if (!p.plane) throw std::invalid_argument("listener '" + l.name + "': no plane for its protocol");
  p.start = p.stages.empty() ? p.plane : &run_stages;
  return p;
}

void run_stages(runtime::worker& w, accepted_connection&& c) {
  auto conn = std::make_shared<accepted_connection>(std::move(c));
  boost::asio::co_spawn(
      w.io(),
      [&w, conn]() -> boost::asio::awaitable<void> {
        // The path of the snapshot the connection was accepted on: a reload
        // meanwhile does not change the steps of a connection half through them.
        const auto ws = w.current();
        const auto& ls = ws->snap->listeners[conn->listener_index];
        const auto& path = ls.path;
        for (const stage_fn stage : path.stages)
          if (!co_await stage(w, ls, *conn)) co_return;
        // Its listener's place in the snapshot now current (a reload may have
        // landed meanwhile; one that removed the listener ends the connection).
        const auto index = runtime::find_listener(*w.current()->snap, conn->ticket.listener().get());
        if (!index) co_return;
        conn->listener_index = *index;
        path.plane(w, std::move(*conn));
      },
      runtime::memory::contain{runtime::memory::plane::stage});
}

}  // namespace lb::listener
