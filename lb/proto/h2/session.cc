#include "lb/proto/h2/session.h"

#include <nghttp2/nghttp2.h>

#include <new>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "lb/core/ip_text.h"
#include "lb/core/log.h"
#include "lb/core/release_buffer.h"
#include "lb/listener/client_limits.h"
#include "lb/io/tls_stream.h"
#include "lb/proto/h2/stream.h"
#include "lb/runtime/memory.h"
#include "lb/tls/client_auth.h"

namespace lb::proto::h2 {

namespace asio = boost::asio;
using asio::awaitable;
using clock = std::chrono::steady_clock;

namespace {

// Bytes gathered per write.
constexpr std::size_t write_gather = 64 * 1024;
// The connection's receive window: what all of its uploads may have in lb at once.
constexpr std::int32_t connection_window = 1 << 20;
// Lingering close after the last frame: at most this long, this many bytes.
constexpr auto linger_time = std::chrono::seconds(2);
constexpr std::size_t linger_bytes = 1 << 20;

}  // namespace

// nghttp2's callbacks, with the session as user data.
struct callbacks {
  static session& of(void* p) { return *static_cast<session*>(p); }
  static stream* stream_of(nghttp2_session* ng, std::int32_t id) {
    return static_cast<stream*>(nghttp2_session_get_stream_user_data(ng, id));
  }

  // nghttp2 is C: nothing may unwind through it. Out of memory in a callback
  // fails the callback, and with it nghttp2_session_mem_recv: the read loop
  // ends the connection (counted here, once).
  template <auto F, class... A>
  static int guarded(A... a) noexcept {
    try {
      return F(a...);
    } catch (const std::bad_alloc&) {
      runtime::memory::note_failure(runtime::memory::plane::h2);
      return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
  }

  static int begin_headers(nghttp2_session* ng, const nghttp2_frame* f, void* u) {
    auto& s = of(u);
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    auto st = std::make_shared<stream>(s, f->hd.stream_id);
    nghttp2_session_set_stream_user_data(ng, f->hd.stream_id, st.get());
    s.streams_.emplace(f->hd.stream_id, std::move(st));
    return 0;
  }

  static int header(nghttp2_session* ng, const nghttp2_frame* f, const std::uint8_t* name, std::size_t namelen,
                    const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* u) {
    auto* st = stream_of(ng, f->hd.stream_id);
    if (!st) return 0;
    const std::string_view n(reinterpret_cast<const char*>(name), namelen);
    const std::string_view v(reinterpret_cast<const char*>(value), valuelen);
    if (st->started) {
      // Trailers of an upload (pseudo-fields were refused by nghttp2).
      if (st->trailers.size() < of(u).listener().http2.max_header_fields) st->trailers.emplace_back(n, v);
      return 0;
    }
    // HPACK bomb: the decoded size is bounded whatever the encoded size was;
    // fields past the limits are dropped and the request answered 431.
    st->decoded_bytes += namelen + valuelen + 32;
    const auto& l = of(u).listener();
    if (st->decoded_bytes > l.limits.max_header_bytes || st->spans.size() >= l.http2.max_header_fields) {
      st->too_large = true;
      // Far past any real request: a bomb, not a big cookie.
      if (st->decoded_bytes > 4ull * l.limits.max_header_bytes) of(u).calm_down(abuse::header_block);
      return 0;
    }
    st->add_field(n, v);
    return 0;
  }

  static int frame_recv(nghttp2_session* ng, const nghttp2_frame* f, void* u) {
    auto& s = of(u);
    const bool end_stream = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    switch (f->hd.type) {
      case NGHTTP2_HEADERS: {
        auto* st = stream_of(ng, f->hd.stream_id);
        if (!st) return 0;
        if (end_stream) st->body_ended = true;
        if (!st->started && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
          st->started = true;
          st->seal_fields();
          s.control_budget_ += s.listener().http2.control_frames_per_request;
          const auto cap = static_cast<std::int64_t>(s.listener().http2.control_frame_budget);
          if (s.control_budget_ > cap) s.control_budget_ = cap;
          asio::co_spawn(s.worker_.io(), run(s.shared_from_this(), s.streams_[f->hd.stream_id]),
                         runtime::memory::contain{runtime::memory::plane::h2});
        } else {
          st->wake();
        }
        return 0;
      }
      case NGHTTP2_DATA: {
        auto* st = stream_of(ng, f->hd.stream_id);
        if (f->hd.length == 0 && !end_stream) break;  // empty DATA: does no work
        if (st && end_stream) {
          st->body_ended = true;
          st->wake();
        }
        return 0;
      }
      case NGHTTP2_SETTINGS:
      case NGHTTP2_PING:
        if (f->hd.flags & NGHTTP2_FLAG_ACK) return 0;
        break;
      case NGHTTP2_WINDOW_UPDATE:
        // Nothing to wake: nghttp2 sends what the new window allows on the
        // writer's next turn, and read_body wakes each stream whose piece it
        // took. Waking every stream on a connection-level update cost a
        // coroutine resumption per open stream (100 streams: ~6k
        // instructions per request).
        break;
      case NGHTTP2_PRIORITY: break;
      case NGHTTP2_RST_STREAM:
        // Rapid Reset (CVE-2023-44487): a token bucket of client resets.
        if (!s.reset_tokens_.take(s.listener().http2)) s.calm_down(abuse::rapid_reset);
        return 0;
      default: return 0;
    }
    if (--s.control_budget_ < 0) s.calm_down(abuse::control_frames);
    return 0;
  }

  static int data_chunk(nghttp2_session* ng, std::uint8_t, std::int32_t id, const std::uint8_t* data, std::size_t len,
                        void* u) {
    auto* st = stream_of(ng, id);
    if (!st) {
      nghttp2_session_consume(ng, id, len);  // nobody will: give the window back
      return 0;
    }
    // limits.max_body_bytes, as HTTP/1.1 has it: past it nothing more is
    // kept (the window goes back so the connection's other streams flow)
    // and the exchange answers 413, or stops its upload with that result.
    if (st->answered) {
      nghttp2_session_consume(ng, id, len);
      if ((st->lingered += len) > linger_bytes) of(u).end_lingering(*st);
      else of(u).arm(st->linger, linger_time);  // still sending: it may finish
      return 0;
    }
    st->body_received += len;
    const auto limit = st->body_limit ? st->body_limit : of(u).listener().limits.max_body_bytes;
    if (st->body_too_large || (limit && st->body_received > limit)) {
      st->body_too_large = true;
      nghttp2_session_consume(ng, id, len);
      st->wake();
      return 0;
    }
    st->body_in.append(reinterpret_cast<const char*>(data), len);
    st->wake();
    return 0;
  }

  // A response sent whole while the client still sends its body (an early
  // error, an answer that did not need all of it). RFC 9113 §8.1 lets lb ask
  // it to stop with RST_STREAM NO_ERROR, but curl 7.88 then drops the answer
  // it has (exit 92, "Empty reply"); so, like an HTTP/1.1 lingering close,
  // the rest is read and dropped, windows given back, until it ends the
  // stream, sends nothing for linger_time or more than linger_bytes, and
  // only then comes the reset: a client that
  // stopped sending on the answer (curl does on an error status) would
  // otherwise wait on a stream that never closes.
  static int frame_send(nghttp2_session* ng, const nghttp2_frame* f, void* u) {
    // Once per frame: the cheap tests first, one stream lookup per answer.
    if (!(f->hd.flags & NGHTTP2_FLAG_END_STREAM) || (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA))
      return 0;
    auto* st = stream_of(ng, f->hd.stream_id);
    if (!st || st->body_ended || st->closed) return 0;  // no user data: closed already
    st->answered = true;
    of(u).give_back(*st);  // an upload still running is stopped by its stream's coroutine
    of(u).arm(st->linger, linger_time);
    return 0;
  }

  static int stream_close(nghttp2_session* ng, std::int32_t id, std::uint32_t, void* u) {
    auto& s = of(u);
    if (auto* st = stream_of(ng, id)) {
      st->closed = true;
      st->wake();
      // A reset mid-exchange stops the upstream I/O; a finished stream has none.
      if (st->ex.upstream && !st->eof_sent) st->ex.upstream->cancel();
      nghttp2_session_set_stream_user_data(ng, id, nullptr);
      if (!st->started || st->finished) {  // no coroutine holds it
        s.give_back(*st);
        s.streams_.erase(id);
      }
    }
    if (s.streams_.empty()) {
      s.arm_idle();
      if (s.draining_) s.want_write();
    }
    return 0;
  }
};

session::session(runtime::worker& w, runtime::connection_ticket ticket, std::unique_ptr<io::stream> s,
                 asio::ip::address peer, std::size_t listener_index)
    : session_base(std::move(ticket)),
      worker_(w),
      client_(std::move(s)),
      ws_(w.current()),
      listener_index_(listener_index),
      peer_(peer),
      client_ip_(ip_text(peer)),
      client_key_(lb::listener::key_of(peer)),
      wake_(w.io(), asio::steady_timer::time_point::max()) {
  worker_.link(this);
  if (const auto& t = listener().tls; t && t->verify != config::client_verify::off)
    if (const auto* ts = dynamic_cast<const io::tls_stream*>(client_.get())) client_id_ = tls::client_identity_of(ts->ssl());
  const auto& h = listener().http2;
  control_budget_ = h.control_frame_budget;
  nghttp2_session_callbacks* cb = nullptr;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, &callbacks::guarded<&callbacks::begin_headers>);
  nghttp2_session_callbacks_set_on_header_callback(cb, &callbacks::guarded<&callbacks::header>);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &callbacks::guarded<&callbacks::frame_recv>);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, &callbacks::guarded<&callbacks::data_chunk>);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, &callbacks::stream_close);
  nghttp2_session_callbacks_set_on_frame_send_callback(cb, &callbacks::frame_send);
  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  // Windows are given back as uploads are written upstream (back-pressure).
  nghttp2_option_set_no_auto_window_update(opt, 1);
  // Closed streams are kept only for priorities, which RFC 9113 deprecates.
  nghttp2_option_set_no_closed_streams(opt, 1);
  // lb's own bucket (reset_tokens_) counts and answers ENHANCE_YOUR_CALM;
  // nghttp2's (INTERNAL_ERROR, uncounted) stays out of its way.
  nghttp2_option_set_stream_reset_rate_limit(opt, std::uint64_t{h.reset_burst} * 2, std::uint64_t{h.resets_per_second} * 2);
  nghttp2_option_set_max_continuations(opt, h.max_continuations);
  codec_mem_.capture(true);
  nghttp2_session_server_new3(&ng_, cb, this, opt, codec_mem_.mem());
  codec_mem_.capture(false);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cb);
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, h.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, h.initial_window_size},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, listener().limits.max_header_bytes},
  };
  nghttp2_submit_settings(ng_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  nghttp2_session_set_local_window_size(ng_, NGHTTP2_FLAG_NONE, 0, connection_window);
}

session::~session() {
  nghttp2_session_del(ng_);
  worker_.unlink(this);
}

const config::listener& session::listener() const { return *ws_->snap->listeners[listener_index_].cfg; }

void session::refresh_snapshot() {
  const auto& cur = worker_.current();
  if (cur == ws_) return;
  if (auto i = runtime::find_listener(*cur->snap, listener_live())) {
    ws_ = cur;
    listener_index_ = *i;
  }
}

void session::start() {
  auto self = shared_from_this();
  arm(idle_, listener().limits.header_timeout);  // the preface must come within header_timeout
  auto on_end = [self](std::exception_ptr e) {
    if (!e) return;
    if (runtime::memory::is_bad_alloc(e)) {
      runtime::memory::note_failure(runtime::memory::plane::h2);
      self->shut();
      return;
    }
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      log::error("h2 session failed", {{"error", x.what()}});
    }
    self->shut();
  };
  asio::co_spawn(worker_.io(), read_loop(), on_end);
  asio::co_spawn(worker_.io(), write_loop(), on_end);
}

void session::arm_idle() {
  if (!closed_ && !finished_) arm(idle_, listener().limits.idle_timeout);
}

awaitable<void> session::read_loop() {
  auto self = shared_from_this();
  std::size_t discarded = 0;
  asio::steady_timer ready(worker_.io());
  while (!closed_) {
    // An idle connection holds no read buffer: it waits for readiness, then
    // borrows one of the worker's blocks only for the read and its parsing.
    // A busy one (streams open) reads straight away, with no extra wait.
    if (streams_.empty() && !client_->has_buffered_input()) {
      idle_sweeps_ = 1;
      bool fired = false;
      ready.expires_at(asio::steady_timer::time_point::max());
      client_->wait_readable([&ready, &fired](io::error_code) {
        fired = true;
        ready.cancel();
      });
      io::error_code wec;
      co_await ready.async_wait(asio::redirect_error(asio::use_awaitable, wec));
      idle_sweeps_ = 0;
      if (!fired || closed_) break;
    }
    runtime::borrowed_block block(worker_.buffers());
    auto* buf = reinterpret_cast<std::uint8_t*>(block.get());
    std::size_t n = 0;
    busy_read_ = true;
    const auto ec = co_await client_->read_some(asio::buffer(buf, block.size()), n);
    busy_read_ = false;
    quiet_read_sweeps_ = 0;
    if (ec == asio::error::operation_aborted && std::exchange(idle_cancel_, false) && !closed_) continue;
    if (ec || closed_) break;
    if (!nghttp2_session_want_read(ng_)) {
      // Lingering close: the session is over (GOAWAY sent) but the client's
      // bytes are read and dropped until it closes too, so no RST destroys
      // the GOAWAY before the client has read it. Bounded.
      if ((discarded += n) > linger_bytes) break;
      continue;
    }
    if (streams_.empty() && !writing_) arm_idle();
    const auto rv = nghttp2_session_mem_recv(ng_, buf, n);
    if (rv < 0) {
      // NGHTTP2_ERR_FLOODED: the client does not read the answers to its
      // PINGs and SETTINGS; anything else is fatal to the session.
      if (rv == NGHTTP2_ERR_FLOODED) calm_down(abuse::flood);
      else if (rv == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS) calm_down(abuse::header_block);
      else if (rv == NGHTTP2_ERR_BAD_CLIENT_MAGIC || rv == NGHTTP2_ERR_CALLBACK_FAILURE) break;
      else if (rv == NGHTTP2_ERR_NOMEM) {
        runtime::memory::note_failure(runtime::memory::plane::h2);
        break;
      }
      else {
        log::debug("h2 session error", {{"client", client_ip_}, {"error", nghttp2_strerror(static_cast<int>(rv))}});
        nghttp2_session_terminate_session(ng_, NGHTTP2_PROTOCOL_ERROR);
      }
    }
    want_write();
  }
  shut();
}

awaitable<void> session::write_loop() {
  auto self = shared_from_this();
  while (!closed_) {
    out_.clear();
    for (;;) {
      const std::uint8_t* data = nullptr;
      const auto n = nghttp2_session_mem_send(ng_, &data);
      if (n < 0) {
        if (n == NGHTTP2_ERR_NOMEM) runtime::memory::note_failure(runtime::memory::plane::h2);
        shut();
        co_return;
      }
      if (n == 0) break;
      out_.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
      if (out_.size() >= write_gather) break;
    }
    if (!out_.empty()) {
      writing_ = true;
      arm(idle_, listener().limits.idle_timeout);  // a client that reads nothing
      io::buffer_seq bufs(asio::buffer(out_));
      io::error_code ec;
      if (!client_->write_now(bufs, ec)) ec = co_await client_->write(bufs);
      writing_ = false;
      if (ec) {
        shut();
        co_return;
      }
      // An idle connection's write buffer goes at its idle sweep (on_sweep),
      // not after every burst.
      if (streams_.empty() && !finished_) arm_idle();
      continue;
    }
    if (!nghttp2_session_want_read(ng_) && !nghttp2_session_want_write(ng_) && !finished_) {
      // All sent: FIN, then the reader lingers until the client closes.
      finished_ = true;
      client_->shutdown_send();
      arm(idle_, linger_time);
    }
    writer_waiting_ = true;
    wake_.expires_at(asio::steady_timer::time_point::max());
    io::error_code ec;
    co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    writer_waiting_ = false;
  }
}

void session::want_write() {
  if (writer_waiting_) wake_.cancel();
}

void session::shut() {
  if (closed_) return;
  closed_ = true;
  clear_deadline();
  client_->close();
  wake_.cancel();
  for (auto& [id, st] : streams_) {
    st->closed = true;
    st->wake();
    if (st->ex.upstream) st->ex.upstream->cancel();
  }
}

void session::calm_down(abuse why) {
  if (closed_ || calmed_) return;
  calmed_ = true;
  ws_->snap->listeners[listener_index_].live->stats[worker_.id()].h2_abuse[static_cast<std::size_t>(why)].add();
  log::warn("h2 connection ended for abuse", {{"client", client_ip_}, {"limit", abuse_names[static_cast<int>(why)]}});
  nghttp2_session_terminate_session(ng_, NGHTTP2_ENHANCE_YOUR_CALM);
  want_write();
}

void session::give_back(stream& st) {
  // Received but never sent upstream: the connection's window (and the
  // stream's, while open) must not shrink by it for good.
  if (st.body_in.empty()) return;
  nghttp2_session_consume(ng_, st.id, st.body_in.size());
  release_buffer(st.body_in);
  want_write();
}

void session::end_lingering(stream& st) {
  disarm(st.linger);
  if (st.closed || closed_) return;
  nghttp2_submit_rst_stream(ng_, NGHTTP2_FLAG_NONE, st.id, NGHTTP2_NO_ERROR);
  want_write();
}

void session::stream_done(std::int32_t id) {
  const auto it = streams_.find(id);
  if (it == streams_.end()) return;
  if (!it->second->closed) {
    it->second->finished = true;  // stream_close erases it
    return;
  }
  give_back(*it->second);
  streams_.erase(it);
  if (streams_.empty()) {
    arm_idle();
    if (draining_) want_write();
  }
}

void session::on_timeout() {
  const auto now = clock::now();
  auto next = clock::time_point::max();
  bool idle_fired = false;
  if (idle_.at <= now) {
    idle_.fired = true;
    idle_.at = clock::time_point::max();
    idle_fired = true;
  } else {
    next = std::min(next, idle_.at);
  }
  if (goaway_.at <= now) {
    goaway_.at = clock::time_point::max();
    // RFC 9113 §6.8: the final GOAWAY names the last stream lb will serve.
    nghttp2_submit_goaway(ng_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(ng_), NGHTTP2_NO_ERROR,
                          nullptr, 0);
    want_write();
  } else {
    next = std::min(next, goaway_.at);
  }
  for (auto& [id, st] : streams_) {
    if (st->linger.at <= now) {
      end_lingering(*st);
    } else {
      next = std::min(next, st->linger.at);
    }
    for (io::deadline* d : {&st->ex.deadline, &st->ex.upload_deadline}) {
      if (d->at <= now) {
        d->fired = true;
        d->at = clock::time_point::max();
        st->wake();
        if (st->ex.upstream) st->ex.upstream->cancel();
      } else {
        next = std::min(next, d->at);
      }
    }
  }
  set_deadline_at(next);
  if (idle_fired) {
    if (writing_ || finished_) {
      shut();  // the client read nothing for idle_timeout
    } else if (streams_.empty()) {
      nghttp2_session_terminate_session(ng_, NGHTTP2_NO_ERROR);
      want_write();
    }
  }
}

void session::on_sweep() {
  // Freeing them after every burst would cost an allocation of each buffer,
  // and its cold cache lines, per burst (measured: h2 over TLS with 10
  // streams a burst). The first sweep may come at once: the second is a
  // whole interval idle.
  if (busy_read_ && streams_.empty() && !writing_ && !closed_ && !finished_ && !idle_cancel_ &&
      ++quiet_read_sweeps_ > 2) {
    // Its streams ended while the reader was in a read: nothing is pending
    // (a read that is cancelled has taken no bytes, TLS's is a wait), so it
    // starts over as an idle connection's readiness wait.
    idle_cancel_ = true;
    client_->cancel();
    return;
  }
  if (idle_sweeps_ == 0 || idle_sweeps_ > 2) return;
  if (++idle_sweeps_ > 2) {
    client_->shed_buffers();
    // The write buffer as the last burst grew it (what it held is written).
    if (writer_waiting_) release_buffer(out_);
    codec_mem_.release_idle_pages();  // nghttp2's frame buffer: most of an idle connection
  }
}

void session::on_drain() {
  if (draining_ || closed_) return;
  draining_ = true;
  // Two GOAWAYs (RFC 9113 §6.8): a notice now, the last stream id a little later.
  nghttp2_submit_shutdown_notice(ng_);
  arm(goaway_, std::chrono::milliseconds(100));
  want_write();
}

void session::on_force_close() { shut(); }

void session::on_memory_pressure() {
  if (streams_.empty()) on_drain();
}

void start_h2(runtime::worker& w, std::unique_ptr<io::stream> s, runtime::connection_ticket ticket,
              asio::ip::address peer, std::size_t listener_index) {
  auto h = std::make_shared<session>(w, std::move(ticket), std::move(s), peer, listener_index);
  h->start();
  // Out of a TLS handshake the drain let finish (an upgrade's handover): GOAWAY at once.
  if (w.draining()) h->on_drain();
}

}  // namespace lb::proto::h2
