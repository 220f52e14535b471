#pragma once
// Health checks of an HTTP/2 pool (`protocol: h2` or `h2c`), over the same
// upstream HTTP/2 connection code the workers use:
//   http: `GET <path>` with :authority <host>; the response status lies in
//         [expect_status_min, expect_status_max].
//   grpc: grpc.health.v1.Health/Check for `service` (gRPC's health checking
//         protocol); healthy when the answer is :status 200, grpc-status 0
//         and the serving status SERVING (Envoy's and Kubernetes' grpc probes).
// The connection lasts one check: it tests the handshake and the preface too.

#include <string>

#include <boost/asio/awaitable.hpp>

#include "lb/config/config.h"
#include "lb/health/check_io.h"
#include "lb/tls/client_context.h"

namespace lb::health::detail {

// Thread: control. `io.sock` is connected; `tls` (null: h2c) and `tls_host`
// as for any check of the pool. The caller bounds it in time (io.close()).
boost::asio::awaitable<outcome> exchange_h2(check_io& io, const config::health_check& hc, const std::string& host,
                                            const tls::client_context* tls, const std::string& tls_host);

// The gRPC health request for `service`, framed (exposed for the unit test).
std::string grpc_health_request(const std::string& service);
// The serving status in a framed HealthCheckResponse: 0 UNKNOWN, 1 SERVING,
// 2 NOT_SERVING, 3 SERVICE_UNKNOWN; -1 when `body` is not one.
int grpc_serving_status(std::string_view body);

}  // namespace lb::health::detail
