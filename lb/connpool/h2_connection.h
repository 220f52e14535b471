#pragma once
// One HTTP/2 connection to an upstream endpoint (a pool with `protocol: h2`
// or `h2c`), run by an nghttp2 client session and shared by the requests of
// one worker: each request is a stream on it (h2_stream). lb owns the I/O as
// on the client side (proto/h2/session): a reader feeds the codec what the
// endpoint sends, a writer sends what the codec has queued.
//
// It opens at most min(the pool's max_concurrent_streams, the endpoint's
// SETTINGS_MAX_CONCURRENT_STREAMS) streams at once; the pool opens another
// connection for more. A GOAWAY from the endpoint stops new streams at once;
// streams above its last-stream-id end as refused (never processed, so the
// forwarder retries them) and the connection closes when the rest are done.
//
// It depends on an io_context only, not on a worker: the control thread's
// health checks run their probes over the same code.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "lb/io/stream.h"

struct nghttp2_session;

namespace lb::tls {
class session_slot;
}

namespace lb::connpool {

class h2_stream;

class h2_connection : public std::enable_shared_from_this<h2_connection> {
 public:
  using clock = std::chrono::steady_clock;

  // `s` is connected (and, over TLS, negotiated h2). `slot`: where its TLS
  // sessions go, kept alive as long as the connection. `tls`: requests say
  // :scheme https.
  h2_connection(boost::asio::io_context& io, std::unique_ptr<io::stream> s, std::shared_ptr<tls::session_slot> slot,
                bool tls, std::uint32_t max_streams);
  ~h2_connection();
  h2_connection(const h2_connection&) = delete;
  h2_connection& operator=(const h2_connection&) = delete;

  // Thread: owning. Sends the preface and SETTINGS, starts reading.
  void start();

  // Whether a new request may open a stream here now.
  bool accepts() const { return !closed_ && !goaway_ && open_ < limit(); }
  bool closed() const { return closed_; }
  // No GOAWAY either way and not closed: it may serve again once idle.
  bool reusable() const { return !closed_ && !goaway_; }
  std::size_t open_streams() const { return open_; }
  clock::time_point idle_since() const { return idle_since_; }

  // A new stream on this connection (accepts() was true): an io::stream
  // whose bytes are one HTTP/1.1 exchange, carried as one HTTP/2 stream.
  std::unique_ptr<h2_stream> open_stream();

  // Ends the connection gracefully: GOAWAY now, closed once no stream is open.
  void retire();
  // Ends it at once: every open stream fails.
  void close();

  // --- for the streams (thread: owning) ---
  nghttp2_session* codec() { return ng_; }
  bool tls() const { return tls_; }
  boost::asio::io_context& io() { return io_; }
  void want_write();
  void stream_gone(h2_stream* st);

 private:
  friend struct client_callbacks;

  std::uint32_t limit() const;
  boost::asio::awaitable<void> read_loop();
  boost::asio::awaitable<void> write_loop();
  void check_retired();

  boost::asio::io_context& io_;
  std::shared_ptr<tls::session_slot> slot_;  // declared before stream_: outlives the SSL
  std::unique_ptr<io::stream> stream_;
  nghttp2_session* ng_ = nullptr;
  std::vector<h2_stream*> streams_;  // open ones, for a connection that fails under them
  std::string out_;                  // frames gathered for one write
  boost::asio::steady_timer wake_;   // the writer waits on it; cancel() wakes it
  clock::time_point idle_since_;
  std::uint32_t max_streams_;
  std::size_t open_ = 0;
  bool tls_;
  bool writer_waiting_ = false;
  bool goaway_ = false;   // sent or received: no new streams
  bool closed_ = false;
};

}  // namespace lb::connpool
