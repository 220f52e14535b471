#pragma once
// Per-client limits of a listener (`client_limits:`): open connections and new
// connections per second, checked when a connection is admitted (after its
// PROXY header, if the listener reads one), and requests per second, checked
// per request by the HTTP planes. The state is the listener's client table on
// the connection's worker: no locks, nothing shared between workers, so with
// W workers a client can get up to W times a limit when the kernel spreads
// its connections over them (Envoy's local rate limit is per worker too).

#include <chrono>
#include <cstdint>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>

#include "lb/config/config.h"
#include "lb/listener/client_table.h"
#include "lb/listener/plane.h"

namespace lb::listener {

// IPv4 as IPv4-mapped IPv6: one key space for both families.
client_key key_of(const boost::asio::ip::address& a);

// Whether `key` falls in one of `blocks`.
bool in_blocks(const std::vector<config::cidr>& blocks, const client_key& key);

// Thread: owning worker. Whether the connection may go on; a refused one is
// counted (lb_client_limited_total) and the caller closes it. An admitted one
// holds its place in the client's count through its ticket.
bool admit_connection(unsigned worker, const runtime::listener_snapshot& ls, accepted_connection& c);

// A connection stage doing the same, after the PROXY header named the client.
boost::asio::awaitable<bool> client_limits_stage(runtime::worker& w, const runtime::listener_snapshot& ls,
                                                 accepted_connection& c);

// Thread: owning worker. Takes one request from the client's bucket: 0 when
// the request may go on, else the seconds the client should wait (the
// Retry-After of its 429), counted. A hash-table hit, no allocation, for a
// known client.
std::uint32_t admit_request(unsigned worker, const runtime::listener_snapshot& ls, const client_key& key,
                            std::chrono::steady_clock::time_point now);

}  // namespace lb::listener
