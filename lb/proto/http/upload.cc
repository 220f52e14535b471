#include "lb/proto/http/upload.h"

#include <new>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "lb/runtime/memory.h"
#include "lb/runtime/worker.h"

namespace lb::proto::http {

namespace asio = boost::asio;
using asio::awaitable;

awaitable<void> upload::start(const connpool::upstream_ptr& up) {
  // Only an HTTP/2 upstream refuses a request unprocessed.
  tap_.cap = up->multiplexed ? max_upload_replay : 0;
  if (p_.send_continue && !rewound_) {
    // The client waits for this before sending its body.
    p_.owner.arm(p_.ex.deadline, p_.client_timeout);
    io::set_no_delay_once(p_.client, p_.nodelay);
    const auto wire = local_response(local_status::continue_, true);
    if (!co_await p_.client.write(asio::buffer(wire))) p_.ex.bytes_out += wire.size();
  }
  running_ = true;
  finished_.emplace(p_.worker.io(), asio::steady_timer::time_point::max());
  asio::co_spawn(
      p_.worker.io(),
      // `keep`: the connection, and this upload in it, live until the relay ends.
      [this, up, keep = p_.keep_alive]() -> awaitable<void> {
        const relay_ends ends{p_.client,
                              p_.client_buf,
                              *up->stream,
                              rewound_ ? resend_ : p_.head,
                              p_.client_timeout,
                              p_.upstream_timeout,
                              p_.owner,
                              p_.ex.upload_deadline,
                              p_.worker.buffers(),
                              &tap_};
        std::uint64_t moved = 0;
        // Out of memory, the upload fails like a broken client read: the
        // exchange waiting on it ends the connection.
        try {
          if (rewound_ && tap_.ended) {
            // The whole body was sent before the refusal: send it again.
            p_.owner.arm(p_.ex.upload_deadline, p_.upstream_timeout);
            result_ = co_await up->stream->write(asio::buffer(resend_)) ? relay_result::out_error : relay_result::ok;
          } else {
            result_ = co_await relay_body(ends, p_.req, p_.f, moved);
          }
        } catch (const std::bad_alloc&) {
          runtime::memory::note_failure(runtime::memory::plane::http1);
          result_ = relay_result::in_error;
        }
        runtime::session_base::disarm(p_.ex.upload_deadline);
        p_.ex.bytes_in += moved;
        done_ = true;
        finished_->cancel();
        // A client-side failure decides the answer: wake the response reader.
        if (result_ != relay_result::ok && result_ != relay_result::out_error) up->stream->cancel();
      },
      asio::detached);
}

bool upload::rewind() {
  // A client-side failure stands; an aborted read (finish) or a failed write does not.
  if (running_ || tap_.lost || (result_ != relay_result::ok && result_ != relay_result::out_error &&
                                result_ != relay_result::in_error))
    return false;
  resend_.reserve(p_.head.size() + tap_.sent.size());
  resend_.assign(p_.head).append(tap_.sent);
  rewound_ = true;
  done_ = false;
  result_ = relay_result::ok;
  return true;
}

awaitable<void> upload::finish(bool abort) {
  if (!running_) co_return;
  if (!done_ && abort) {
    p_.client.cancel();
    if (p_.ex.upstream) p_.ex.upstream->cancel();
  }
  if (!done_) {
    io::error_code ec;
    co_await finished_->async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  running_ = false;
}

}  // namespace lb::proto::http
