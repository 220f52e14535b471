#include "lb/proto/tcp/splice.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace lb::proto::tcp {

namespace {

// Per splice() call: the pipe's default capacity (16 pages).
constexpr std::size_t splice_chunk = 64 * 1024;
constexpr std::size_t max_free_pipes = 64;

struct pipe_pool {
  std::vector<pipe_pair> free;
  ~pipe_pool() {
    for (auto& p : free) {
      ::close(p.read_fd);
      ::close(p.write_fd);
    }
  }
};

thread_local pipe_pool pool;

void close_pipe(pipe_pair& p) {
  if (p.read_fd >= 0) ::close(p.read_fd);
  if (p.write_fd >= 0) ::close(p.write_fd);
  p = {};
}

}  // namespace

pipe_pair take_pipe() {
  if (!pool.free.empty()) {
    const auto p = pool.free.back();
    pool.free.pop_back();
    return p;
  }
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return {};
  return {fds[0], fds[1], 0};
}

void give_pipe(pipe_pair p) {
  if (p.read_fd < 0) return;
  if (p.held != 0 || pool.free.size() >= max_free_pipes) {
    close_pipe(p);
    return;
  }
  pool.free.push_back(p);
}

boost::asio::awaitable<copy_end> splice_copy(io::socket_stream& from, io::socket_stream& to, pipe_pair& p,
                                             copy_hooks hooks) {
  constexpr unsigned flags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
  bool from_done = false;
  for (;;) {
    if (!from.is_open() || !to.is_open()) co_return copy_end::aborted;
    // Fill the pipe while `from` has bytes and the pipe has room.
    if (!from_done && p.held < splice_chunk) {
      const auto n = ::splice(from.native_handle(), nullptr, p.write_fd, nullptr, splice_chunk - p.held, flags);
      if (n > 0) {
        p.held += static_cast<std::size_t>(n);
        hooks.moved(hooks.ctx, static_cast<std::size_t>(n));
      } else if (n == 0) {
        from_done = true;
      } else if (errno == EINTR) {
        continue;
      } else if (errno != EAGAIN) {
        co_return copy_end::from_error;
      } else if (p.held == 0) {
        // Nothing in hand and nothing to read: wait (EAGAIN was just seen).
        if (co_await from.wait(io::socket_stream::wait_type::read)) co_return copy_end::aborted;
        continue;
      }
    }
    // Drain the pipe into `to`.
    while (p.held != 0) {
      if (!to.is_open()) co_return copy_end::aborted;
      const auto n = ::splice(p.read_fd, nullptr, to.native_handle(), nullptr, p.held, flags);
      if (n > 0) {
        p.held -= static_cast<std::size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && errno == EAGAIN) {
        if (co_await to.wait(io::socket_stream::wait_type::write)) co_return copy_end::aborted;
      } else {
        co_return copy_end::to_error;
      }
    }
    if (from_done) co_return copy_end::eof;
  }
}

}  // namespace lb::proto::tcp
