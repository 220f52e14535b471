#pragma once
// The PROXY header a TCP session sends ahead of its bytes to a pool with
// `proxy_protocol: v1|v2`: the real client (from a PROXY header lb accepted,
// else the connection's peer) and the address it connected to. v2 carries
// TLVs: the ALPN, SNI (authority) and TLS version of a connection lb
// terminated, and the TLVs a trusted balancer in front sent (passed on).

#include <string>

#include "lb/config/config.h"
#include "lb/io/stream.h"
#include "lb/proto/proxy/header.h"

namespace lb::proto::tcp {

// Thread: owning worker. `client`: the client's stream (its local address is
// the destination unless `proxied` names one); `peer`: the client as lb knows it;
// `sni`: the server name read from a ClientHello passed through (v2: the
// authority TLV).
std::string upstream_header(config::proxy_version v, io::stream& client, const proxy::endpoint& peer,
                            const proxy::header* proxied, std::string_view sni = {});

}  // namespace lb::proto::tcp
