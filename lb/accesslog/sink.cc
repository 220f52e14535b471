// sink: the access log's writer thread. Workers submit buffers of complete
// lines; this thread writes them, in submission order, with write(2).
//
// - Locking: one mutex + condition variable, taken once per submitted buffer
//   (64 KiB, or one worker sweep), never per request.
// - Bounded: buffers submitted and not yet written (queued + the one being
//   written) are capped at 64 MiB. Past that (disk or pipe stuck) a submitted
//   buffer is dropped whole and its lines are counted in dropped().
// - reopen(): every buffer carries the reopen generation current when it was
//   submitted. Before writing a buffer of a newer generation, the thread
//   reopens the path, so lines submitted before reopen() go to the old file
//   and lines submitted after it go to the new one; a buffer is never split
//   across files and nothing is lost. With nothing queued, the thread reopens
//   at once (the old file is released promptly). If the reopen fails, the old
//   descriptor is kept (lines keep going to the moved file) and the error goes
//   to stderr; the next reopen() tries again. reopen() takes the mutex: call
//   it from a signal_set handler, not from a raw signal handler.
// - Write errors: the rest of that buffer is dropped and counted; if a line
//   was cut short, the next write first ends it with '\n' so the following
//   line starts clean. The first error after a success goes to stderr.
// - The thread blocks all asynchronous signals (they belong to the control
//   thread); a SIGPIPE from writing to a closed stdout pipe is consumed, and
//   the write fails with EPIPE like any other error.
// - close(): stops accepting, writes out everything queued, joins the thread,
//   closes the file (never fd 1). Buffers submitted afterwards are dropped and
//   counted. If the output blocks forever, so does close().

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>

#include "lb/accesslog/access_log.h"
#include "lb/core/release_buffer.h"
#include "lb/core/time_text.h"

namespace lb::accesslog {
namespace {

constexpr std::size_t kMaxPendingBytes = 64u * 1024 * 1024;

std::uint64_t count_lines(std::string_view s) {
  return static_cast<std::uint64_t>(std::count(s.begin(), s.end(), '\n'));
}

// The process logger (lb/core/log) lives in lb_core, which this library may
// not depend on; errors go to stderr in the same logfmt shape, one write(2).
void report(std::string_view msg, std::string_view path, int err) noexcept {
  try {
    std::string line = "ts=";
    line.append(rfc3339_utc(unix_ms_now()));
    line.append(" level=error msg=\"");
    line.append(msg);
    line.append("\" path=\"");
    for (char c : path) line.push_back(c == '"' || static_cast<unsigned char>(c) < 0x20 ? '?' : c);
    line.append("\" error=\"");
    line.append(std::generic_category().message(err));
    line.append("\"\n");
    [[maybe_unused]] auto w = ::write(STDERR_FILENO, line.data(), line.size());
  } catch (...) {
  }
}

int open_file(const std::string& path) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

class fd_sink final : public sink {
 public:
  fd_sink(int fd, bool owns_fd, std::string path) : fd_(fd), owns_fd_(owns_fd), path_(std::move(path)) {}

  ~fd_sink() override { close(); }

  // Starts the thread with every asynchronous signal blocked, so none is ever
  // delivered to it (and a SIGPIPE it causes stays pending, for it to consume).
  void start() {
    sigset_t all, old;
    sigfillset(&all);
    for (int s : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT}) sigdelset(&all, s);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    try {
      thread_ = std::thread([this] { run(); });
    } catch (...) {
      pthread_sigmask(SIG_SETMASK, &old, nullptr);
      throw;
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }

  void submit(std::string&& lines) override {
    if (lines.empty()) return;
    {
      std::lock_guard lk(mu_);
      if (!stop_ && pending_bytes_ + lines.size() <= kMaxPendingBytes) {
        pending_bytes_ += lines.size();
        queue_.push_back({std::move(lines), generation_});
        cv_.notify_one();
        return;
      }
    }
    dropped_.fetch_add(count_lines(lines), std::memory_order_relaxed);
  }

  void reopen() override {
    std::lock_guard lk(mu_);
    ++generation_;
    cv_.notify_one();
  }

  void close() override {
    std::lock_guard close_lk(close_mu_);
    if (closed_) return;
    {
      std::lock_guard lk(mu_);
      stop_ = true;
      cv_.notify_one();
    }
    if (thread_.joinable()) thread_.join();
    if (owns_fd_ && fd_ >= 0) ::close(fd_);
    fd_ = -1;
    closed_ = true;
  }

  std::uint64_t dropped() const override { return dropped_.load(std::memory_order_relaxed); }

 private:
  struct pending {
    std::string lines;
    std::uint64_t generation;
  };

  void run() {
    std::unique_lock lk(mu_);
    for (;;) {
      cv_.wait(lk, [&] { return !queue_.empty() || stop_ || generation_ != fd_generation_; });
      if (queue_.empty()) {
        if (generation_ != fd_generation_) {
          const auto g = generation_;
          lk.unlock();
          reopen_now(g);
          lk.lock();
          continue;
        }
        return;  // stop_ and drained
      }
      pending p = std::move(queue_.front());
      queue_.pop_front();
      lk.unlock();
      if (p.generation != fd_generation_) reopen_now(p.generation);
      write_lines(p.lines);
      const std::size_t n = p.lines.size();
      release_buffer(p.lines);  // free outside the lock
      lk.lock();
      pending_bytes_ -= n;
    }
  }

  // Thread: the writer.
  void reopen_now(std::uint64_t generation) {
    fd_generation_ = generation;
    if (!owns_fd_) return;  // stdout: nothing to reopen
    const int fd = open_file(path_);
    if (fd < 0) {
      report("access log reopen failed; still writing to the old file", path_, errno);
      return;
    }
    ::close(fd_);
    fd_ = fd;
    torn_ = false;
    failing_ = false;
  }

  // Thread: the writer. Writes all of `s` or drops (and counts) what is left.
  void write_lines(std::string_view s) {
    if (torn_) {
      if (!write_all("\n")) {
        fail(s);
        return;
      }
      torn_ = false;
    }
    const std::size_t before = s.size();
    if (!write_all(s)) {
      if (s.size() != before && s.size() > 0 && *(s.data() - 1) != '\n') torn_ = true;
      fail(s);
      return;
    }
    failing_ = false;
  }

  void fail(std::string_view unwritten) {
    const int err = errno;
    dropped_.fetch_add(count_lines(unwritten), std::memory_order_relaxed);
    if (!failing_) report("access log write failed; dropping lines", path_, err);
    failing_ = true;
  }

  // Loops over partial writes, EINTR and EAGAIN (an O_NONBLOCK stdout).
  // Advances `s` past what was written; false on a hard error (errno set).
  bool write_all(std::string_view& s) {
    while (!s.empty()) {
      const ssize_t n = ::write(fd_, s.data(), s.size());
      if (n >= 0) {
        s.remove_prefix(static_cast<std::size_t>(n));
        continue;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        pollfd pfd{fd_, POLLOUT, 0};
        ::poll(&pfd, 1, 1000);
        continue;
      }
      if (errno == EPIPE) consume_sigpipe();
      return false;
    }
    return true;
  }
  bool write_all(std::string_view&& s) { return write_all(s); }

  static void consume_sigpipe() {
    const int saved = errno;
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    const timespec zero{0, 0};
    while (sigtimedwait(&pipe_set, nullptr, &zero) == SIGPIPE) {
    }
    errno = saved;
  }

  // Writer-thread state (and close(), after the join).
  int fd_;
  const bool owns_fd_;
  const std::string path_;
  std::uint64_t fd_generation_ = 0;
  bool torn_ = false;     // the last write ended mid-line
  bool failing_ = false;  // the last write failed (report once)

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<pending> queue_;
  std::size_t pending_bytes_ = 0;  // queued + being written
  std::uint64_t generation_ = 0;   // bumped by reopen()
  bool stop_ = false;

  std::mutex close_mu_;
  bool closed_ = false;
  std::thread thread_;
  std::atomic<std::uint64_t> dropped_{0};
};

}  // namespace

std::shared_ptr<sink> sink::open(const config::access_log& cfg) {
  std::shared_ptr<fd_sink> s;
  switch (cfg.type) {
    case config::access_log::kind::off:
      return nullptr;
    case config::access_log::kind::stdout_:
      s = std::make_shared<fd_sink>(STDOUT_FILENO, false, "stdout");
      break;
    case config::access_log::kind::file: {
      const int fd = open_file(cfg.path);
      if (fd < 0) throw std::system_error(errno, std::generic_category(), "access_log: cannot open " + cfg.path);
      s = std::make_shared<fd_sink>(fd, true, cfg.path);
      break;
    }
  }
  if (!s) return nullptr;
  s->start();
  return s;
}

}  // namespace lb::accesslog
