#pragma once
// `lb --probe URL`: a health check that needs nothing but lb itself, so a
// container image without curl or a shell can still carry a HEALTHCHECK.

#include <chrono>
#include <string>

namespace lb::control {

// Thread: main. GETs `url` (http://HOST:PORT/PATH; plain HTTP only: the admin
// server's /healthz and /readyz). Returns 0 on a 2xx answer within `timeout`,
// 1 otherwise, with the reason on stderr.
int probe(const std::string& url, std::chrono::milliseconds timeout);

}  // namespace lb::control
