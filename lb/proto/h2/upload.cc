#include "lb/proto/h2/upload.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <charconv>
#include <new>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "lb/core/release_buffer.h"
#include "lb/proto/h2/session.h"
#include "lb/proto/h2/stream.h"
#include "lb/runtime/memory.h"

namespace lb::proto::h2 {

namespace asio = boost::asio;
using asio::awaitable;

awaitable<void> upload::start(const connpool::upstream_ptr& up) {
  running_ = true;
  finished_.emplace(s_.worker().io(), asio::steady_timer::time_point::max());
  // The stream's coroutine holds the session and the stream until finish().
  asio::co_spawn(
      s_.worker().io(),
      [this, up]() -> awaitable<void> {
        // Out of memory, the upload fails like a broken client stream.
        try {
          result_ = co_await pump(up);
        } catch (const std::bad_alloc&) {
          runtime::memory::note_failure(runtime::memory::plane::h2);
          result_ = http::relay_result::in_error;
        }
        runtime::session_base::disarm(st_.ex.upload_deadline);
        done_ = true;
        finished_->cancel();
        if (result_ != http::relay_result::ok && result_ != http::relay_result::out_error) up->stream->cancel();
      },
      asio::detached);
  co_return;
}

awaitable<http::relay_result> upload::pump(const connpool::upstream_ptr& up) {
  std::string sending;
  bool head_sent = false;
  const auto idle = s_.listener().limits.idle_timeout;
  for (;;) {
    // Wait for DATA (or its end) from the client, within idle_timeout.
    s_.arm(st_.ex.upload_deadline, idle);
    while (st_.body_in.empty() && !st_.body_ended && !st_.closed && !st_.upload_aborted &&
           !st_.body_too_large && !st_.ex.upload_deadline.fired)
      co_await st_.wait();
    if (st_.ex.upload_deadline.fired) co_return http::relay_result::timed_out;
    if (st_.body_too_large) co_return http::relay_result::in_too_large;
    if ((st_.closed && !st_.body_ended) || st_.upload_aborted) co_return http::relay_result::in_error;
    sending.swap(st_.body_in);
    const bool last = st_.body_ended && st_.body_in.empty();
    io::buffer_seq bufs;
    if (!head_sent) bufs.push(asio::buffer(head_));
    char size_line[20];
    if (chunked_ && !sending.empty()) {
      char* end = std::to_chars(size_line, size_line + sizeof size_line - 2, sending.size(), 16).ptr;
      *end++ = '\r';
      *end++ = '\n';
      bufs.push(asio::buffer(size_line, static_cast<std::size_t>(end - size_line)));
      bufs.push(asio::buffer(sending));
      bufs.push(asio::buffer("\r\n", 2));
    } else if (!sending.empty()) {
      bufs.push(asio::buffer(sending));
    }
    std::string tail;
    if (chunked_ && last) {
      // The client's trailers, if any, end the chunked body (RFC 9112 §7.1.2).
      tail = "0\r\n";
      for (const auto& [n, v] : st_.trailers) tail.append(n).append(": ").append(v).append("\r\n");
      tail.append("\r\n");
      bufs.push(asio::buffer(tail));
    }
    // Kept before the write: a write that fails may still have sent them.
    // Only an HTTP/2 upstream refuses a request unprocessed.
    if (!up->multiplexed) {
      replay_ok_ = false;
    } else if (replay_ok_ && replay_.size() + sending.size() <= http::max_upload_replay) {
      replay_.append(sending);
    } else if (replay_ok_) {
      replay_ok_ = false;
      release_buffer(replay_);
    }
    s_.arm(st_.ex.upload_deadline, upstream_timeout_);
    const auto ec = co_await up->stream->write(bufs);
    if (ec) co_return st_.ex.upload_deadline.fired ? http::relay_result::out_timed_out : http::relay_result::out_error;
    head_sent = true;
    st_.ex.bytes_in += sending.size();
    written_ += sending.size();
    // Written upstream: the client may send as much again (once per byte:
    // replayed bytes may have been given back before).
    const auto fresh = sending.size() - std::min(sending.size(), replayed_);
    replayed_ -= sending.size() - fresh;
    if (!s_.closed() && fresh != 0) {
      nghttp2_session_consume(s_.codec(), st_.id, fresh);
      s_.want_write();
    }
    sending.clear();
    if (last) co_return http::relay_result::ok;
  }
}

bool upload::rewind() {
  if (running_ || !replay_ok_ || st_.closed) return false;
  // Of the bytes put back, those written before were counted and their
  // window given back; those of the write that failed were not.
  st_.ex.bytes_in -= written_;
  replayed_ = written_;
  written_ = 0;
  st_.body_in.insert(0, replay_);
  replay_.clear();
  st_.upload_aborted = false;
  done_ = false;
  result_ = http::relay_result::ok;
  return true;
}

awaitable<void> upload::finish(bool abort) {
  if (!running_) co_return;
  if (!done_ && abort) {
    st_.upload_aborted = true;  // the pump stops at its next wait
    st_.wake();
    if (st_.ex.upstream) st_.ex.upstream->cancel();
  }
  while (!done_) {
    io::error_code ec;
    finished_->expires_at(asio::steady_timer::time_point::max());
    co_await finished_->async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  running_ = false;
}

}  // namespace lb::proto::h2
