// The HTTP/1 connection loop: requests in order, parking between them,
// lingering close, and the plane's entry point.
#include "lb/proto/http/connection.h"

#include <sys/socket.h>

#include <exception>
#include <new>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "lb/core/ip_text.h"
#include "lb/core/log.h"
#include "lb/io/tls_stream.h"
#include "lb/listener/client_limits.h"
#include "lb/proto/http/http1_connection.h"
#include "lb/runtime/memory.h"
#include "lb/tls/client_auth.h"

namespace lb::proto::http {

namespace asio = boost::asio;
using asio::awaitable;
using clock = std::chrono::steady_clock;

connection::connection(runtime::worker& w, runtime::connection_ticket ticket, std::unique_ptr<io::stream> stream,
                       const runtime::resume_state& conn, std::size_t listener_index)
    : session_base(std::move(ticket)),
      worker_(w),
      client_(std::move(stream)),
      ws_(w.current()),
      listener_index_(listener_index),
      conn_(conn),
      client_ip_(ip_text(conn.peer)),
      client_key_(lb::listener::key_of(conn.peer)),
      parked_once_(conn.exchanges != 0) {
  worker_.link(this);
  // Resumed (or out of a TLS handshake) while the worker drains.
  if (worker_.draining()) {
    draining_ = true;
    keep_idle_ = worker_.handing_over();
  }
  // Worked out at the handshake and kept on the SSL (across parking too).
  if (const auto& t = listener().tls; t && t->verify != config::client_verify::off)
    if (const auto* s = dynamic_cast<const io::tls_stream*>(client_.get())) client_id_ = tls::client_identity_of(s->ssl());
}

connection::~connection() { worker_.unlink(this); }

void connection::start() {
  asio::co_spawn(worker_.io(), serve(), [self = shared_from_this()](std::exception_ptr e) {
    if (e) {
      // Out of memory outside an exchange (waiting, lingering): the
      // connection ends; its members unwound with the frame.
      if (runtime::memory::is_bad_alloc(e)) {
        runtime::memory::note_failure(runtime::memory::plane::http1);
      } else {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& x) {
          log::error("session failed", {{"error", x.what()}});
        }
      }
      self->close();
      return;
    }
    if (self->parked_) self->park();
  });
}

void connection::resume(runtime::worker& w, runtime::connection_ticket&& ticket, io::released released,
                        const runtime::resume_state& st, clock::time_point deadline) {
  auto stream = io::resume_stream(w.io(), released, st.peer);
  if (!stream) return;
  // Its listener's connections drain when a reload removes it, so it is
  // there; if not, there is no config left to serve it with.
  const auto index = runtime::find_listener(*w.current()->snap, ticket.listener().get());
  if (!index) return;  // the stream closes with `stream`
  auto s = std::make_shared<connection>(w, std::move(ticket), std::move(stream), st, *index);
  // Parking does not extend the first request's header_timeout (it runs
  // from accept); later requests get theirs from their first byte.
  if (st.exchanges == 0) s->first_head_deadline_ = deadline;
  s->start();
}

awaitable<void> connection::serve() {
  for (;;) {
    // Draining to exit: answer only a request that has already arrived.
    if (draining_ && !keep_idle_ && !input_waiting()) break;
    refresh_snapshot();
    const auto& lim = listener().limits;
    if (client_buf_.size() == 0) {
      // The first request's head timer runs from accept; later ones get
      // idle_timeout to start and header_timeout from their first byte.
      if (conn_.exchanges == 0 && first_head_deadline_) {
        arm_at(ex_.deadline, *first_head_deadline_);
      } else {
        arm(conn_.exchanges != 0 ? lim.idle_timeout : lim.header_timeout);
      }
      // After its first exchange a connection has not yet shown it is busy:
      // park it at once (a parked connection is a 128-byte record). One
      // that comes back is parked by the sweep only once it goes quiet, so
      // a busy connection does not pay a park per request.
      if (conn_.exchanges == 1 && !parked_once_ && !client_->has_buffered_input()) {
        parked_ = true;
        co_return;
      }
      const bool got = co_await await_request();
      if (parked_) co_return;  // start()'s completion parks the connection
      if (!got) break;
      refresh_snapshot();  // a reload may have landed while it waited
      if (conn_.exchanges != 0) arm(listener().limits.header_timeout);
    } else {
      arm(lim.header_timeout);  // pipelined bytes already buffered
    }
    ++conn_.exchanges;
    bool more = false;
    bool out_of_memory = false;
    try {
      more = co_await exchange();
    } catch (const std::bad_alloc&) {
      out_of_memory = true;
    }
    if (out_of_memory) {
      co_await answer_out_of_memory();
      break;
    }
    if (!more) break;
  }
  if (linger_) co_await linger();
  close();
}

awaitable<void> connection::linger() {
  const auto t = listener().limits.lingering_timeout;
  if (t.count() <= 0 || !client_->is_open()) co_return;
  client_->shutdown_send();
  arm(t);
  for (;;) {
    client_buf_.clear();
    if (co_await client_->read(client_buf_, linger_chunk, false)) break;
  }
}

bool connection::input_waiting() {
  if (client_buf_.size() != 0 || client_->has_buffered_input()) return true;
  char byte;
  return ::recv(client_->native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

awaitable<bool> connection::await_request() {
  waiting_ = true;
  idle_swept_ = false;
  auto ec = co_await client_->read(client_buf_, read_chunk, false);
  waiting_ = false;
  if (ec == asio::error::operation_aborted && park_requested_ && !ex_.deadline.fired &&
      (!draining_ || keep_idle_)) {
    park_requested_ = false;
    parked_ = true;
    co_return false;
  }
  park_requested_ = false;
  // Woken by a drain: a request that raced it is served, not dropped
  // (closing with it unread would send an RST).
  if (ec == asio::error::operation_aborted && draining_ && !ex_.deadline.fired && input_waiting())
    ec = co_await client_->read(client_buf_, read_chunk, true);
  co_return !ec;
}

void connection::park() {
  if (draining_ && !keep_idle_) {
    close();
    return;
  }
  const auto released = client_->release();
  if (released.fd < 0) return;
  worker_.parking().park(std::move(ticket_), released, conn_, ex_.deadline.at, &connection::resume);
}
void start_connection(runtime::worker& w, listener::accepted_connection&& c) {
  std::make_shared<connection>(w, std::move(c.ticket), std::move(c.stream), runtime::resume_state{c.peer},
                               c.listener_index)
      ->start();
}

}  // namespace lb::proto::http
