#pragma once
// `redirect_https` on a plain listener: every request is answered with a
// redirect to the same host, path and query over https (the HTTP/1 and
// HTTP/2 planes alike), never reaching an upstream.

#include <cstdint>
#include <string>
#include <string_view>

#include "lb/config/config.h"

namespace lb::proto::http {

// Thread: any. Appends `https://HOST[:port]/path?query` to `out`: HOST is
// `host` (a Host field or :authority) without its port; path and query are
// `target`'s, byte for byte (an absolute-form target gives its path). False,
// with `out` unchanged, when `host` is missing or no host name, or `target`
// has no path (CONNECT's authority-form, OPTIONS *): a 400.
bool https_location(std::string& out, std::string_view host, std::string_view target, std::uint16_t port);

// Thread: any. The status for a request with method `get_or_head`: 301 only
// where configured and only for GET and HEAD (a 301 lets clients turn a POST
// into a GET); else 308.
inline unsigned redirect_status(const config::redirect_https& rd, bool get_or_head) {
  return rd.code == 301 && get_or_head ? 301 : 308;
}

// Thread: any. Appends the whole HTTP/1.1 response (empty body) to `out`.
void write_redirect(std::string& out, unsigned status, std::string_view location, bool keep_alive);

}  // namespace lb::proto::http
