#include "lb/connpool/h2_connection.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <exception>
#include <new>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "lb/connpool/h2_stream.h"
#include "lb/core/log.h"

namespace lb::connpool {

namespace asio = boost::asio;
using asio::awaitable;

namespace {

constexpr std::size_t read_chunk = 16 * 1024;
constexpr std::size_t write_gather = 64 * 1024;
// What all of a connection's responses may have in lb, unread, at once; each
// stream has the default 64 KiB of it.
constexpr std::int32_t connection_window = 1 << 20;
// Response heads are not the client's to size; this bounds a broken upstream
// (the HTTP/1.1 path's limit).
constexpr std::uint32_t max_response_head = 64 * 1024;

}  // namespace

// nghttp2's callbacks, with the connection as user data and each stream's
// h2_stream as its stream user data (cleared when the h2_stream lets go).
struct client_callbacks {
  static h2_connection& of(void* p) { return *static_cast<h2_connection*>(p); }
  static h2_stream* stream_of(nghttp2_session* ng, std::int32_t id) {
    return static_cast<h2_stream*>(nghttp2_session_get_stream_user_data(ng, id));
  }

  // Nothing may unwind through C: out of memory fails the callback, and the
  // read loop ends the connection.
  template <auto F, class... A>
  static int guarded(A... a) noexcept {
    try {
      return F(a...);
    } catch (const std::bad_alloc&) {
      return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
  }

  static int header(nghttp2_session* ng, const nghttp2_frame* f, const std::uint8_t* name, std::size_t namelen,
                    const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void*) {
    auto* st = stream_of(ng, f->hd.stream_id);
    if (!st) return 0;
    st->on_field({reinterpret_cast<const char*>(name), namelen}, {reinterpret_cast<const char*>(value), valuelen});
    return 0;
  }

  static int frame_recv(nghttp2_session* ng, const nghttp2_frame* f, void* u) {
    const bool end_stream = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    switch (f->hd.type) {
      case NGHTTP2_HEADERS:
        if (auto* st = stream_of(ng, f->hd.stream_id)) st->on_head_end(end_stream);
        break;
      case NGHTTP2_DATA:
        if (auto* st = stream_of(ng, f->hd.stream_id); st && end_stream) st->on_end_stream();
        break;
      case NGHTTP2_GOAWAY: {
        // No new streams; those above last_stream_id are closed as refused
        // by nghttp2, the others finish.
        auto& c = of(u);
        c.goaway_ = true;
        c.check_retired();
        break;
      }
      default: break;
    }
    return 0;
  }

  static int data_chunk(nghttp2_session* ng, std::uint8_t, std::int32_t id, const std::uint8_t* data, std::size_t len,
                        void*) {
    auto* st = stream_of(ng, id);
    if (!st) {
      nghttp2_session_consume(ng, id, len);  // nobody will read it: give the window back
      return 0;
    }
    st->on_data(data, len);
    return 0;
  }

  // A request whose HEADERS could not go out has no stream in the codec,
  // so no stream_close: after a GOAWAY (START_STREAM_NOT_ALLOWED) it was
  // refused unsent; otherwise it failed.
  static int frame_not_send(nghttp2_session*, const nghttp2_frame* f, int lib_error, void* u) {
    if (f->hd.type != NGHTTP2_HEADERS) return 0;
    for (auto* st : of(u).streams_)
      if (st->id() == f->hd.stream_id) {
        st->on_close(lib_error == NGHTTP2_ERR_START_STREAM_NOT_ALLOWED ? NGHTTP2_REFUSED_STREAM
                                                                      : NGHTTP2_INTERNAL_ERROR);
        break;
      }
    return 0;
  }

  static int stream_close(nghttp2_session* ng, std::int32_t id, std::uint32_t error_code, void*) {
    if (auto* st = stream_of(ng, id)) {
      nghttp2_session_set_stream_user_data(ng, id, nullptr);
      st->on_close(error_code);
    }
    return 0;
  }
};

h2_connection::h2_connection(asio::io_context& io, std::unique_ptr<io::stream> s,
                             std::shared_ptr<tls::session_slot> slot, bool tls, std::uint32_t max_streams)
    : io_(io),
      slot_(std::move(slot)),
      stream_(std::move(s)),
      wake_(io, asio::steady_timer::time_point::max()),
      idle_since_(clock::now()),
      max_streams_(max_streams),
      tls_(tls) {
  nghttp2_session_callbacks* cb = nullptr;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session_callbacks_set_on_header_callback(cb, &client_callbacks::guarded<&client_callbacks::header>);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &client_callbacks::guarded<&client_callbacks::frame_recv>);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb,
                                                            &client_callbacks::guarded<&client_callbacks::data_chunk>);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, &client_callbacks::stream_close);
  nghttp2_session_callbacks_set_on_frame_not_send_callback(cb, &client_callbacks::frame_not_send);
  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  // Windows are given back as the forwarder reads responses (back-pressure).
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_no_closed_streams(opt, 1);
  nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);
  nghttp2_session_client_new2(&ng_, cb, this, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cb);
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, max_response_head},
  };
  nghttp2_submit_settings(ng_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  nghttp2_session_set_local_window_size(ng_, NGHTTP2_FLAG_NONE, 0, connection_window);
}

h2_connection::~h2_connection() { nghttp2_session_del(ng_); }

std::uint32_t h2_connection::limit() const {
  return std::min(max_streams_, nghttp2_session_get_remote_settings(ng_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS));
}

void h2_connection::start() {
  auto self = shared_from_this();
  auto on_end = [self](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::bad_alloc&) {
    } catch (const std::exception& x) {
      log::error("upstream h2 connection failed", {{"error", x.what()}});
    }
    self->close();
  };
  asio::co_spawn(io_, read_loop(), on_end);
  asio::co_spawn(io_, write_loop(), on_end);
}

std::unique_ptr<h2_stream> h2_connection::open_stream() {
  auto st = std::make_unique<h2_stream>(shared_from_this());
  streams_.push_back(st.get());
  ++open_;
  return st;
}

void h2_connection::stream_gone(h2_stream* st) {
  const auto it = std::find(streams_.begin(), streams_.end(), st);
  if (it == streams_.end()) return;
  *it = streams_.back();
  streams_.pop_back();
  --open_;
  if (open_ == 0) idle_since_ = clock::now();
  check_retired();
}

void h2_connection::retire() {
  if (closed_) return;
  if (!goaway_) {
    goaway_ = true;
    // A client's GOAWAY names the last stream the server opened: none (no push).
    nghttp2_submit_goaway(ng_, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, nullptr, 0);
  }
  check_retired();
}

void h2_connection::check_retired() {
  // The writer closes the connection once the GOAWAY is out and no stream is open.
  if (goaway_ && open_ == 0) want_write();
}

void h2_connection::want_write() {
  if (writer_waiting_) wake_.cancel();
}

void h2_connection::close() {
  if (closed_) return;
  closed_ = true;
  goaway_ = true;
  stream_->close();
  wake_.cancel();
  // The streams learn it and let go of the connection. One whose HEADERS
  // never went out (not submitted yet, or still queued in the codec) was
  // refused unprocessed: the forwarder may send it again elsewhere.
  const auto streams = streams_;
  for (auto* st : streams) {
    const bool unsent = st->id() <= 0 || nghttp2_session_find_stream(ng_, st->id()) == nullptr;
    st->on_close(unsent ? NGHTTP2_REFUSED_STREAM : NGHTTP2_INTERNAL_ERROR);
  }
}

awaitable<void> h2_connection::read_loop() {
  auto self = shared_from_this();
  const auto buf = std::make_unique_for_overwrite<std::uint8_t[]>(read_chunk);
  while (!closed_) {
    std::size_t n = 0;
    const auto ec = co_await stream_->read_some(asio::buffer(buf.get(), read_chunk), n);
    if (ec || closed_) break;
    const auto rv = nghttp2_session_mem_recv(ng_, buf.get(), n);
    if (rv < 0) {
      log::debug("upstream h2 session error", {{"error", nghttp2_strerror(static_cast<int>(rv))}});
      break;
    }
    want_write();
  }
  close();
}

awaitable<void> h2_connection::write_loop() {
  auto self = shared_from_this();
  while (!closed_) {
    out_.clear();
    for (;;) {
      const std::uint8_t* data = nullptr;
      const auto n = nghttp2_session_mem_send(ng_, &data);
      if (n < 0) {
        close();
        co_return;
      }
      if (n == 0) break;
      out_.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
      if (out_.size() >= write_gather) break;
    }
    if (!out_.empty()) {
      if (co_await stream_->write(asio::buffer(out_))) {
        close();
        co_return;
      }
      continue;
    }
    // Everything is out: a retired connection with no stream left, or a
    // session nghttp2 has ended (a fatal error, both GOAWAYs), closes.
    if ((goaway_ && open_ == 0) || (!nghttp2_session_want_read(ng_) && !nghttp2_session_want_write(ng_))) {
      close();
      co_return;
    }
    writer_waiting_ = true;
    wake_.expires_at(asio::steady_timer::time_point::max());
    io::error_code ec;
    co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    writer_waiting_ = false;
  }
}

}  // namespace lb::connpool
