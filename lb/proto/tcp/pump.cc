#include "lb/proto/tcp/pump.h"

#include <sys/socket.h>

#include <cerrno>
#include <exception>
#include <new>
#include <cstring>
#include <optional>
#include <string_view>
#include <tuple>
#include <type_traits>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "lb/io/socket_stream.h"
#include "lb/proto/proxy/header.h"
#include "lb/proto/tcp/splice.h"
#include "lb/runtime/worker.h"

namespace lb::proto::tcp {

namespace asio = boost::asio;
using asio::awaitable;

namespace {

// Full 64 KiB blocks in a row after which a direction is taken for bulk and
// moves to splice(): a request/response flow rarely fills 64 KiB twice, a
// transfer does at once.
constexpr int full_reads_to_splice = 2;

struct flow {
  runtime::worker& w;
  pump_timing t;
  const pump_options& o;
  pump_report r;
  bool running[2] = {true, true};
};

struct direction {
  flow& f;
  int d;  // 0: a -> b, 1: b -> a
  bool check_proxy;  // the first bytes are yet to be checked for a PROXY signature
  bool may_splice;
  io::socket_stream* plain_to;  // the writes' end when it is a plain socket: relay_small() may run
  // Where a plain socket's reads wait: small enough to keep per quiet flow,
  // large enough for a request/response message whole.
  char small[2048];

  void moved(std::size_t n) {
    f.t.owner.arm(f.t.deadline, f.t.idle);
    f.r.bytes[d] += n;
    for (auto* c : f.o.counters[d])
      if (c) c->add(n);
  }
  static void moved_hook(void* self, std::size_t n) { static_cast<direction*>(self)->moved(n); }
};

enum class outcome { eof, from_error, to_error, aborted, refused, bulk };

outcome of(copy_end e) {
  switch (e) {
    case copy_end::eof: return outcome::eof;
    case copy_end::from_error: return outcome::from_error;
    case copy_end::to_error: return outcome::to_error;
    case copy_end::aborted: break;
  }
  return outcome::aborted;
}

// A failed write: the owner closing the stream is not the peer's doing.
outcome write_failure(const io::error_code& ec) {
  return ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor ? outcome::aborted
                                                                                    : outcome::to_error;
}

// Whether the flow's first bytes `seen` decide the PROXY check: nullopt
// while they are a prefix of a signature and more may follow.
std::optional<bool> proxy_signature(direction& dir, std::string_view seen) {
  if (!dir.check_proxy) return false;
  const auto s = proxy::starts_like_header(seen);
  if (s == proxy::signature::partial) return std::nullopt;
  dir.check_proxy = false;
  return s == proxy::signature::yes;
}

// Request/response traffic between plain sockets without a coroutine step per
// message: reads into `dir.small` and, while each read is a short one (the
// whole message) that the other socket takes at once, sends it and reads
// again from the read's own completion. It completes, handing the flow back
// to copy_plain(), with (ec, n, sent): the read's error, or `n` bytes in
// `dir.small` of which the first `sent` are written already (a read that
// filled the buffer, or a message the other socket did not take whole).
// Only the handed-back read's bytes are not yet counted by moved().
template <class Token>
auto relay_small(direction& dir, io::socket_stream& from, Token&& token) {
  return asio::async_initiate<Token, void(io::error_code, std::size_t, std::size_t)>(
      [](auto handler, direction* dir, io::socket_stream* from) {
        using handler_type = std::decay_t<decltype(handler)>;
        struct step {
          direction* dir;
          io::socket_stream* from;
          handler_type handler;

          void read() {
            auto* s = from;
            s->async_read_some(asio::buffer(dir->small, sizeof dir->small), std::move(*this));
          }
          void operator()(io::error_code ec, std::size_t n) {
            std::size_t sent = 0;
            if (!ec && n != 0 && n < sizeof dir->small) {
              io::buffer_seq out(asio::buffer(dir->small, n));
              io::error_code wec;
              const bool settled = dir->plain_to->write_now(out, wec);
              if (settled && !wec) {
                dir->moved(n);
                read();
                return;
              }
              // A failed write goes back unsent: copy_plain()'s own write reports it.
              if (!wec) sent = n - out.bytes();
            }
            std::move(handler)(ec, n, sent);
          }
        };
        step{dir, from, std::move(handler)}.read();
      },
      token, &dir, &from);
}

// A plain socket. Waiting is a queued read into the direction's small inline
// buffer (Asio's registration stays as it is; a readiness wait would cost an
// epoll_ctl each time), so a quiet flow holds no block. A read that fills the
// small buffer means more is waiting: a block is borrowed and the socket
// drained through it. Returns `bulk` when the direction should splice.
awaitable<outcome> copy_plain(direction& dir, io::socket_stream& from, io::stream& to) {
  auto& pool = dir.f.w.buffers();
  std::size_t have = 0;  // bytes in `small` not yet written (only a partial PROXY signature waits)
  int full_reads = 0;
  for (;;) {
    if (!from.is_open() || !to.is_open()) co_return outcome::aborted;
    io::error_code ec;
    std::size_t n = 0;
    if (have == 0 && !dir.check_proxy && dir.plain_to) {
      std::size_t sent = 0;
      std::tie(n, sent) = co_await relay_small(dir, from, asio::redirect_error(asio::use_awaitable, ec));
      if (sent != 0 || (!ec && n != 0 && n < sizeof dir.small)) {
        // A message the other socket did not take whole: the rest waits for room.
        dir.moved(n);
        if (const auto wec = co_await to.write(asio::buffer(dir.small + sent, n - sent)))
          co_return write_failure(wec);
        full_reads = 0;
        continue;
      }
    } else {
      n = co_await from.async_read_some(asio::buffer(dir.small + have, sizeof dir.small - have),
                                        asio::redirect_error(asio::use_awaitable, ec));
    }
    have += n;
    if (n != 0) {
      const auto refuse = proxy_signature(dir, std::string_view(dir.small, have));
      if (refuse && *refuse) co_return outcome::refused;
      if (!refuse && !ec) continue;
    }
    if (have != 0 && (have < sizeof dir.small || ec)) {
      dir.moved(have);
      io::buffer_seq out(asio::buffer(dir.small, have));
      io::error_code wec;
      if (!to.write_now(out, wec)) wec = co_await to.write(out);
      if (wec) co_return write_failure(wec);
      have = 0;
      full_reads = 0;
    }
    if (ec == asio::error::eof) co_return outcome::eof;
    if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) co_return outcome::aborted;
    if (ec) co_return outcome::from_error;
    if (have == 0) continue;

    runtime::borrowed_block block(pool);
    std::memcpy(block.get(), dir.small, have);
    std::size_t fill = have;
    have = 0;
    for (;;) {
      bool eof = false, drained = false;
      while (fill < block.size()) {
        const auto r = ::recv(from.native_handle(), block.get() + fill, block.size() - fill, 0);
        if (r > 0) {
          fill += static_cast<std::size_t>(r);
        } else if (r == 0) {
          eof = true;
          break;
        } else if (errno == EAGAIN) {
          drained = true;
          break;
        } else if (errno != EINTR) {
          co_return outcome::from_error;
        }
      }
      const bool full = fill == block.size();
      if (fill != 0) {
        dir.moved(fill);
        io::buffer_seq out(asio::buffer(block.get(), fill));
        io::error_code wec;
        if (!to.write_now(out, wec)) wec = co_await to.write(out);
        if (wec) co_return write_failure(wec);
        fill = 0;
      }
      if (eof) co_return outcome::eof;
      full_reads = full ? full_reads + 1 : 0;
      if (full_reads >= full_reads_to_splice && dir.may_splice) co_return outcome::bulk;
      if (drained) break;  // back to the queued read, with the block returned
      if (!from.is_open() || !to.is_open()) co_return outcome::aborted;
    }
  }
}

// Any other stream (TLS): read_some into a block held for the flow.
awaitable<outcome> copy_stream(direction& dir, io::stream& from, io::stream& to) {
  runtime::borrowed_block chunk(dir.f.w.buffers());
  std::size_t have = 0;
  for (;;) {
    std::size_t n = 0;
    const auto ec = co_await from.read_some(asio::buffer(chunk.get() + have, chunk.size() - have), n);
    if (n != 0) {
      have += n;
      const auto refuse = proxy_signature(dir, std::string_view(chunk.get(), have));
      if (refuse && *refuse) co_return outcome::refused;
      if (refuse) {
        dir.moved(have);
        if (const auto wec = co_await to.write(asio::buffer(chunk.get(), have))) co_return write_failure(wec);
        have = 0;
      }
    }
    if (ec == asio::error::eof) co_return outcome::eof;
    if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) co_return outcome::aborted;
    if (ec) co_return outcome::from_error;
  }
}

void abort_stream(io::stream& s) {
  if (s.is_open()) io::abort(s);
}

// One direction: `from` to `to`, starting with what was read already; then
// what its ending means for the other side.
awaitable<void> pump_one(flow& f, int d, pump_end from, io::stream& to) {
  direction dir{f, d, d == 0 && f.o.refuse_proxy_header, f.o.splice, nullptr, {}};
  outcome end = outcome::eof;
  if (from.pending.size() != 0) {
    dir.check_proxy = false;  // already read by a plane that has looked at it
    dir.moved(from.pending.size());
    const auto ec = co_await to.write(from.pending.data());
    from.pending.consume(from.pending.size());
    if (ec) end = write_failure(ec);
  }
  if (end == outcome::eof) {
    auto* plain_from = dynamic_cast<io::socket_stream*>(&from.stream);
    auto* plain_to = dynamic_cast<io::socket_stream*>(&to);
    dir.may_splice = dir.may_splice && plain_to;
    dir.plain_to = plain_to;
    if (!plain_from) {
      end = co_await copy_stream(dir, from.stream, to);
    } else {
      end = co_await copy_plain(dir, *plain_from, to);
      if (end == outcome::bulk) {
        auto pipe = take_pipe();
        if (pipe.read_fd >= 0) {
          f.r.spliced = true;
          end = of(co_await splice_copy(*plain_from, *plain_to, pipe, {&direction::moved_hook, &dir}));
          give_pipe(pipe);
        } else {
          dir.may_splice = false;  // out of descriptors (or a TLS `to`): stay buffered
          end = co_await copy_plain(dir, *plain_from, to);
        }
      }
    }
  }
  f.running[d] = false;
  switch (end) {
    case outcome::eof:
      f.r.finished[d] = true;
      if (to.is_open()) to.shutdown_send();
      if (f.running[1 - d] && f.o.half_close) f.t.owner.arm(*f.o.half_close, f.o.half_close_timeout);
      break;
    case outcome::from_error:
      f.r.reset[d] = true;
      abort_stream(to);
      from.stream.close();
      break;
    case outcome::to_error:
      f.r.reset[1 - d] = true;
      abort_stream(from.stream);
      to.close();
      break;
    case outcome::refused:
      f.r.refused = true;
      from.stream.close();
      to.close();
      break;
    case outcome::aborted:
    case outcome::bulk: break;
  }
}

}  // namespace

awaitable<pump_report> pump_flow(runtime::worker& w, pump_end a, pump_end b, pump_timing t, const pump_options& opts,
                                 std::shared_ptr<void> keep) {
  t.owner.arm(t.deadline, t.idle);
  flow f{w, t, opts, {}};
  asio::steady_timer done(w.io(), asio::steady_timer::time_point::max());
  bool other_finished = false;
  // Out of memory in either direction ends the flow; the other direction is
  // stopped and awaited before this frame, which it uses, unwinds.
  std::exception_ptr failed;
  const auto fail = [&failed, &a, &b] {
    failed = std::current_exception();
    a.stream.close();
    b.stream.close();
  };
  asio::co_spawn(
      w.io(),
      [&f, a, b, &done, &other_finished, &fail, keep]() -> awaitable<void> {
        try {
          co_await pump_one(f, 1, b, a.stream);
        } catch (const std::bad_alloc&) {
          fail();
        }
        other_finished = true;
        done.cancel();
      },
      asio::detached);
  try {
    co_await pump_one(f, 0, a, b.stream);
  } catch (const std::bad_alloc&) {
    fail();
  }
  if (!other_finished) {
    io::error_code ec;
    co_await done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  if (failed) std::rethrow_exception(failed);
  co_return f.r;
}

awaitable<void> pump_both(runtime::worker& w, pump_end a, pump_end b, pump_timing t, std::shared_ptr<void> keep) {
  static const pump_options none{};
  co_await pump_flow(w, a, b, t, none, std::move(keep));
}

}  // namespace lb::proto::tcp
