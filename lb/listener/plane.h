#pragma once
// Where an accepted connection goes: a short chain of connection stages, then
// the listener's plane (HTTP/1 today; HTTP/2 and TCP later). Both are chosen
// when the snapshot is built and stored on the listener snapshot, so an accept
// costs one indirect call (HAProxy's transport layer -> mux -> stream; Envoy's
// listener filters ahead of the network filter chain).

#include <cstddef>
#include <memory>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>

#include "lb/config/config.h"
#include "lb/io/stream.h"
#include "lb/proto/proxy/header.h"
#include "lb/runtime/connection_ticket.h"
#include "lb/runtime/fwd.h"

namespace lb::listener {

// An accepted client connection on its way to a plane, and what the stages
// learned of it. The PROXY-protocol stage replaces `peer` with the real
// client's address; the TLS stage swaps `stream` for a TLS stream.
struct accepted_connection {
  runtime::connection_ticket ticket;
  std::unique_ptr<io::stream> stream;
  boost::asio::ip::address peer;
  std::size_t listener_index = 0;  // in the worker's current snapshot
  std::uint16_t peer_port = 0;
  // The PROXY header a trusted peer sent (`peer` and `peer_port` are then the
  // client's it names); null when none was read.
  std::shared_ptr<const proto::proxy::header> proxied;
};

// Thread: owning worker. Takes the connection over (it closes when dropped).
using plane_fn = void (*)(runtime::worker&, accepted_connection&&);

// Thread: owning worker. One step ahead of the plane: the PROXY-protocol
// header read, the TLS handshake or ClientHello peek, the ALPN choice. Returns
// false to drop the connection (the stage has logged and counted why).
// `ls`: the connection's listener in the snapshot it was accepted on.
using stage_fn = boost::asio::awaitable<bool> (*)(runtime::worker&, const runtime::listener_snapshot& ls,
                                                  accepted_connection&);

// What a listener's connections go through, built once per snapshot.
struct connection_path {
  std::vector<stage_fn> stages;  // in order: the TLS handshake on a `tls:` listener
  plane_fn plane = nullptr;
  // The accept path's single call: the plane itself when there is no stage,
  // else the stage runner, which ends in `plane`.
  plane_fn start = nullptr;
};

// Thread: control. The path for `l`'s protocol (throws std::invalid_argument
// for a protocol this build has no plane for; the loader refuses those first).
connection_path path_for(const config::listener& l);

// Thread: owning worker. Runs the listener's stages in order, then its plane.
void run_stages(runtime::worker& w, accepted_connection&& c);

}  // namespace lb::listener
