#pragma once
// The PROXY-protocol stage of a listener with `accept_proxy_protocol:`: a
// peer in its `from` blocks must open with a v1 or v2 header, which names the
// real client; lb then uses that address everywhere (logs, hashing,
// X-Forwarded-For, PROXY headers it sends on). Failures are counted in
// lb_proxy_protocol_failures_total by reason.

#include <boost/asio/awaitable.hpp>

#include "lb/listener/plane.h"
#include "lb/runtime/fwd.h"

namespace lb::proto::proxy {

// Thread: any. Whether `a` lies in one of `blocks` (an IPv4-mapped IPv6
// address matches IPv4 blocks).
bool trusted(const std::vector<config::cidr>& blocks, const boost::asio::ip::address& a);

// Thread: owning worker. A listener::stage_fn. A trusted peer's header is
// read exactly (what is peeked is taken only up to the header's end: no byte
// after it is taken from the plane) within accept_proxy_protocol.timeout; a
// malformed, truncated or late one drops the connection. Other peers pass
// untouched: a TCP plane refuses one that sends a header, an HTTP plane a 400.
boost::asio::awaitable<bool> accept_stage(runtime::worker& w, const runtime::listener_snapshot& ls,
                                          listener::accepted_connection& c);

}  // namespace lb::proto::proxy
