#pragma once
// The HTTP/2 plane: one client connection run by an nghttp2 server session
// (the codec: frames, HPACK, flow control, the RFC 9113 message checks).
// lb owns the I/O: a reader feeds received bytes to the session, a writer
// sends what the session has queued, and each request stream runs as its own
// coroutine through the shared forwarder (router, balancers, retries,
// timeouts, access log, metrics), to an HTTP/1.1 upstream.
//
// Flow control follows the upstream both ways: a request body's window is
// given back only once its bytes are written upstream, and a response body is
// read from the upstream only once the client's window has taken the last
// piece. A slow client therefore never makes lb buffer a whole response.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>

#include "lb/config/config.h"
#include "lb/io/stream.h"
#include "lb/listener/client_table.h"
#include "lb/proto/h2/codec_memory.h"
#include "lb/runtime/session_base.h"
#include "lb/runtime/worker.h"

namespace lb::tls {
struct client_identity;
}

struct nghttp2_session;

namespace lb::proto::h2 {

struct stream;

// Limits a connection broke (lb_http2_abuse_total's `limit`).
enum class abuse : std::uint8_t { rapid_reset, control_frames, slow_read, header_block, flood, count };
inline constexpr const char* abuse_names[] = {"rapid_reset", "control_frames", "slow_read", "header_block", "flood"};

// A token bucket: `burst` at once, refilled at `rate` per second.
struct reset_bucket {
  double tokens = -1;  // -1: not yet filled
  std::chrono::steady_clock::time_point at{};
  bool take(const config::http2& h) {
    const auto now = std::chrono::steady_clock::now();
    if (tokens < 0) tokens = h.reset_burst;
    else tokens = std::min<double>(h.reset_burst, tokens + std::chrono::duration<double>(now - at).count() * h.resets_per_second);
    at = now;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  }
};

class session final : public runtime::session_base, public std::enable_shared_from_this<session> {
 public:
  session(runtime::worker& w, runtime::connection_ticket ticket, std::unique_ptr<io::stream> s,
          boost::asio::ip::address peer, std::size_t listener_index);
  ~session() override;

  // Thread: owning worker. Sends lb's SETTINGS and starts reading.
  void start();

  void on_timeout() override;
  void on_drain() override;
  void on_memory_pressure() override;  // an idle connection says GOAWAY and closes
  void on_force_close() override;
  void on_sweep() override;  // sheds the TLS buffers and codec pages of a connection idle for a whole sweep

  // --- for the streams (thread: owning worker) ---
  runtime::worker& worker() { return worker_; }
  nghttp2_session* codec() { return ng_; }
  const std::shared_ptr<runtime::worker_snapshot>& snapshot() const { return ws_; }
  std::size_t listener_index() const { return listener_index_; }
  const config::listener& listener() const;
  // A new stream takes the newest snapshot, unless a reload removed its listener.
  void refresh_snapshot();
  const std::string& client_ip() const { return client_ip_; }
  const boost::asio::ip::address& peer() const { return peer_; }
  const lb::listener::client_key& client_key() const { return client_key_; }
  // The verified client certificate's subject and fingerprint (TLS listeners
  // with client certificates), worked out at the handshake; null when none.
  const tls::client_identity* client_identity() const { return client_id_; }
  bool closed() const { return closed_; }
  // The session has frames to send: wake the writer.
  void want_write();
  // Ends the connection for abuse: GOAWAY ENHANCE_YOUR_CALM, counted.
  void calm_down(abuse why);
  // A stream's coroutine has ended: forget it.
  void stream_done(std::int32_t id);
  // Gives the window back for the stream's body bytes never sent upstream.
  void give_back(stream& st);
  // An answered stream's client has lingered long enough: RST_STREAM NO_ERROR.
  void end_lingering(stream& st);

 private:
  friend struct callbacks;

  boost::asio::awaitable<void> read_loop();
  boost::asio::awaitable<void> write_loop();
  void shut();  // closes the client and wakes every stream
  void arm_idle();

  runtime::worker& worker_;
  std::unique_ptr<io::stream> client_;
  std::shared_ptr<runtime::worker_snapshot> ws_;
  std::size_t listener_index_;
  boost::asio::ip::address peer_;
  std::string client_ip_;
  lb::listener::client_key client_key_;  // for client_limits' request rate
  const tls::client_identity* client_id_ = nullptr;  // owned by the client stream's SSL
  codec_memory codec_mem_;  // before ng_, which points to it
  nghttp2_session* ng_ = nullptr;
  std::unordered_map<std::int32_t, std::shared_ptr<stream>> streams_;
  std::string out_;                  // frames gathered for one write
  boost::asio::steady_timer wake_;   // the writer waits on it; cancel() wakes it
  io::deadline idle_;                // preface, idle (no stream open) and client writes
  io::deadline goaway_;              // draining: when to send the final GOAWAY
  std::int64_t control_budget_;      // frames that do no work still allowed
  bool writer_waiting_ = false;
  bool writing_ = false;
  bool closed_ = false;
  bool draining_ = false;
  bool calmed_ = false;    // GOAWAY ENHANCE_YOUR_CALM sent
  bool finished_ = false;  // every frame sent and FIN too: lingering
  // Sweeps seen while the reader waits with no stream open (0: not waiting).
  // A connection between bursts of requests keeps its TLS buffers; one still
  // idle at the second sweep sheds them.
  std::uint8_t idle_sweeps_ = 0;
  // The reader is in a read it started while streams were open; once they
  // are done and a whole sweep passed, it is cancelled (idle_cancel_) so the
  // connection waits for readiness instead, holding no block.
  bool busy_read_ = false;
  bool idle_cancel_ = false;
  std::uint8_t quiet_read_sweeps_ = 0;
  reset_bucket reset_tokens_;
};

// Thread: owning worker. A listener::plane_fn: the connection speaks HTTP/2.
void start_h2(runtime::worker& w, std::unique_ptr<io::stream> s, runtime::connection_ticket ticket,
              boost::asio::ip::address peer, std::size_t listener_index);

}  // namespace lb::proto::h2
