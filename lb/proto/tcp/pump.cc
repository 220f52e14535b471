#include "lb/proto/tcp/pump.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "lb/runtime/worker.h"

namespace lb::proto::tcp {

namespace asio = boost::asio;
using asio::awaitable;

namespace {

// One direction: `from` to `to`, starting with what was read already.
awaitable<void> pump(runtime::worker& w, pump_end from, io::stream& to, const pump_timing& t) {
  io::error_code ec;
  if (from.pending.size() != 0) {
    ec = co_await to.write(from.pending.data());
    from.pending.consume(from.pending.size());
  }
  runtime::borrowed_block chunk(w.buffers());
  while (!ec) {
    std::size_t n = 0;
    ec = co_await from.stream.read_some(asio::buffer(chunk.get(), chunk.size()), n);
    if (n == 0) break;
    t.owner.arm(t.deadline, t.idle);
    ec = co_await to.write(asio::buffer(chunk.get(), n));
  }
  // Pass the half-close on; the other direction ends when its side closes too.
  to.shutdown_send();
  if (ec && ec != asio::error::eof) {
    from.stream.close();
    to.close();
  }
}

}  // namespace

awaitable<void> pump_both(runtime::worker& w, pump_end a, pump_end b, pump_timing t, std::shared_ptr<void> keep) {
  t.owner.arm(t.deadline, t.idle);
  asio::steady_timer done(w.io(), asio::steady_timer::time_point::max());
  bool other_finished = false;
  asio::co_spawn(
      w.io(),
      [&w, b, a, &t, &done, &other_finished, keep]() -> awaitable<void> {
        co_await pump(w, b, a.stream, t);
        other_finished = true;
        done.cancel();
      },
      asio::detached);
  co_await pump(w, a, b.stream, t);
  if (!other_finished) {
    io::error_code ec;
    co_await done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

}  // namespace lb::proto::tcp
