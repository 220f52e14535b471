#pragma once
// What one health check holds while it runs, shared with the timer that
// enforces its timeout and reachable from checker::stop() through a weak
// pointer; and what a check concludes.

#include <memory>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "lb/connpool/h2_connection.h"
#include "lb/io/tls_stream.h"

namespace lb::health::detail {

struct check_io {
  explicit check_io(const boost::asio::any_io_executor& ex) : sock(ex), deadline(ex) {}
  void close() {
    boost::system::error_code ignored;
    sock.close(ignored);
    if (tls) tls->close();
    if (h2) h2->close();
  }
  boost::asio::ip::tcp::socket sock;
  std::unique_ptr<io::tls_stream> tls;  // a TLS pool's check: takes over `sock` once connected
  // An HTTP/2 pool's check: takes over the socket (or `tls`) once connected.
  std::shared_ptr<connpool::h2_connection> h2;
  boost::asio::steady_timer deadline;
  bool timed_out = false;
};

struct outcome {
  bool ok = false;
  std::string reason;  // "status 200", "connected", "connect refused", "timeout", ...
};

}  // namespace lb::health::detail
