#pragma once
// The HTTP/1 plane's client connection (connection.h is its entry point):
// the connection loop and parking (connection.cc), one request/response
// exchange (connection_exchange.cc) and the answers lb gives itself
// (local_answers.cc). Private to the plane; small hot helpers stay inline.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "lb/config/config.h"
#include "lb/io/stream.h"
#include "lb/listener/client_table.h"
#include "lb/proto/http/exchange.h"
#include "lb/proto/http/local_response.h"
#include "lb/runtime/session_base.h"
#include "lb/runtime/snapshot.h"
#include "lb/runtime/worker.h"

namespace lb::tls {
struct client_identity;
}

namespace lb::proto::http {

class connection final : public runtime::session_base, public std::enable_shared_from_this<connection> {
 public:
  // `conn`: a new connection's peer, or what a parked one carried.
  connection(runtime::worker& w, runtime::connection_ticket ticket, std::unique_ptr<io::stream> stream,
             const runtime::resume_state& conn, std::size_t listener_index);

  ~connection() override;

  // Serves the connection in its own coroutine; parks or closes it when that ends.
  void start();

  // A parked connection's socket is readable: serve it again.
  static void resume(runtime::worker& w, runtime::connection_ticket&& ticket, io::released released,
                     const runtime::resume_state& st, std::chrono::steady_clock::time_point deadline);

  void on_timeout() override {
    if (expire(ex_.deadline, ex_.upload_deadline)) cancel_io();
  }

  void on_drain() override {
    draining_ = true;
    keep_idle_ = worker_.handing_over();
    // An idle connection waiting to exit is woken; its request, if one
    // arrived meanwhile, is still answered (await_request()).
    if (waiting_ && !keep_idle_) cancel_io();
  }

  void on_memory_pressure() override {
    if (waiting_) on_drain();
  }

  void on_force_close() override {
    client_->close();
    if (ex_.upstream) ex_.upstream->close();
  }

  void on_sweep() override {
    // Park a connection that has been waiting for a whole sweep interval.
    if (!waiting_ || (draining_ && !keep_idle_) || parked_ || park_requested_ || client_buf_.size() != 0 || client_->has_buffered_input()) return;
    if (idle_swept_) {
      park_requested_ = true;
      client_->cancel();
    }
    idle_swept_ = true;
  }

 private:
  // First read of a request head (nginx: client_header_buffer_size 1k); larger
  // heads grow the buffer up to max_header_bytes.
  static constexpr std::size_t read_chunk = 1024;
  // Reads while lingering: input is dropped, so big bites and few syscalls.
  static constexpr std::size_t linger_chunk = 16 * 1024;

  // A new request takes the newest snapshot; one whose listener was removed
  // by a reload keeps serving on the snapshot it had.
  void refresh_snapshot() {
    const auto& cur = worker_.current();
    if (cur == ws_) return;
    if (auto i = runtime::find_listener(*cur->snap, listener_live())) {
      ws_ = cur;
      listener_index_ = *i;
    }
  }

  const runtime::listener_snapshot& lsnap() const { return ws_->snap->listeners[listener_index_]; }
  const config::listener& listener() const { return *lsnap().cfg; }

  void arm(config::duration d) { session_base::arm(ex_.deadline, d); }

  void cancel_io() {
    client_->cancel();
    if (ex_.upstream) ex_.upstream->cancel();
  }

  // --- connection loop (connection.cc) --------------------------------------

  boost::asio::awaitable<void> serve();

  // Lingering close: the answer is out, but the client may still be sending
  // a body nobody will read. Closing now with unread input would send an RST
  // that can destroy the answer in flight; instead send the FIN and drop
  // input until the client closes or lingering_timeout runs out.
  boost::asio::awaitable<void> linger();

  // Like nginx's tcp_nodelay: only a connection that stays open needs Nagle
  // off (so the tail of a response is not held back waiting for an ACK); a
  // connection that closes after its response flushes it with the FIN, and
  // one request per connection saves the syscall.
  void keep_alive_nodelay() { io::set_no_delay_once(*client_, conn_.nodelay); }

  // close() sends the FIN after any unsent data by itself: a shutdown first
  // would only cost a syscall per connection.
  void close() {
    clear_deadline();
    client_->close();
  }

  // Bytes of a request that are here, read or not (a drain peeks: one
  // syscall, and only while draining).
  bool input_waiting();

  // Waits for the first bytes of the next request with a queued read (no
  // syscall when the socket is drained). A connection still waiting after a
  // whole sweep interval gets its read cancelled by on_sweep and is parked.
  boost::asio::awaitable<bool> await_request();

  // An idle connection leaves its session and Asio for the worker's parking
  // lot, keeping only what resuming needs. The deadline set before parking
  // (idle_timeout) goes with it.
  void park();

  // --- answering locally (local_answers.cc) ---------------------------------

  // An exchange ran out of memory: it ended (its frame unwound, releasing
  // what it held), and the connection ends after a 503 when no byte of a
  // response went out yet. The answer is static text: no allocation.
  boost::asio::awaitable<void> answer_out_of_memory();

  boost::asio::awaitable<void> write_local(local_status s, bool keep_alive);

  // An answer of lb's own with X-Request-Id as its last field (in the reused
  // response-head buffer) when the exchange has one.
  std::string_view with_request_id(std::string_view wire);

  // Answers with an error of lb's own; returns whether the connection stays open.
  boost::asio::awaitable<bool> reply(local_status s, std::string_view reason, bool request_done);

  // 429 for a client over its request rate (client_limits): the connection
  // stays open when the request is whole.
  boost::asio::awaitable<bool> reply_too_many(std::uint32_t retry_after, bool request_done,
                                              std::string_view reason = "client_request_rate");

  // `redirect_https`: the same host, path and query over https; a request
  // with no usable Host is a 400.
  boost::asio::awaitable<bool> redirect(const config::redirect_https& rd, std::string_view host, std::string_view target,
                           bool get_or_head, bool http11, bool request_done);

  // --- one exchange (connection_exchange.cc) --------------------------------

  // X-Request-Id and trace context for the parsed request (listener
  // `request_id:`, `tracing:`); returns whether either is on. Neither field
  // is one Beast knows by name, so only the unknown ones are looked at.
  template <class Message>
  bool decide_trace(const Message& msg);

  // One request/response exchange, accounted for (stats, access log) however
  // it ends. Returns whether to read another request.
  boost::asio::awaitable<bool> exchange();

  runtime::worker& worker_;
  std::unique_ptr<io::stream> client_;
  boost::beast::flat_buffer client_buf_;
  std::shared_ptr<runtime::worker_snapshot> ws_;  // the config the current request runs on
  std::size_t listener_index_ = 0;                // in ws_->snap->listeners
  runtime::resume_state conn_;  // peer, requests so far, socket flags: what parking keeps
  std::string client_ip_;
  lb::listener::client_key client_key_;  // for client_limits' request rate
  const tls::client_identity* client_id_ = nullptr;  // the verified client certificate's, owned by the SSL
  // Set when a connection parked before its first request resumes.
  std::optional<std::chrono::steady_clock::time_point> first_head_deadline_;
  std::string head_out_;  // the response head being sent, reused across requests
  std::string up_head_;   // the request head sent upstream (kept for retries)
  struct exchange ex_;    // the exchange in progress (one at a time on HTTP/1)
  bool draining_ = false;
  bool keep_idle_ = false;  // draining for an upgrade's handover: wait for the next request
  bool linger_ = false;  // the last answer went out before the request was read whole
  bool answering_ = false;  // the response to the exchange in progress has begun
  bool idle_swept_ = false;
  bool waiting_ = false;         // between requests, no byte of the next one read yet
  bool parked_ = false;          // idle: hand the connection to the parking lot once the coroutine ends
  bool park_requested_ = false;  // the sweep cancelled the read to park
  const bool parked_once_;       // resumed after its first request: the after-first-request park happened
};

}  // namespace lb::proto::http
