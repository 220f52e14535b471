#pragma once
// The running process's side of a binary upgrade: start the new binary with
// the same arguments, hand it the listening sockets (control/handover.h) and
// wait until it serves, fails or runs out of time. The caller then drains
// (the new one serves) or keeps serving (nothing was lost).

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "lb/control/handover.h"

namespace lb::control {

// Listening descriptors to hand over, by what serves them and the
// configured address. Not owned: the caller keeps them open meanwhile.
struct socket_group {
  handover_message::kind what;
  std::string address;
  std::vector<int> fds;
};

// How lb was started, for the new process: the binary's absolute path (so
// a file replaced on disk is what runs) and the arguments.
struct launch_info {
  std::string exe;
  std::vector<std::string> argv;
};

// Thread: main, before any other thread: `argv[0]` made absolute (searched
// in PATH when it names no directory). Empty exe when it cannot be found.
launch_info launch_info_of(int argc, char** argv);

class upgrade {
 public:
  struct outcome {
    bool ok = false;
    pid_t pid = 0;
    std::string reason;  // why it failed
  };
  using done_fn = std::function<void(const outcome&)>;

  // Thread: control, like every member. `done` runs once per start().
  upgrade(boost::asio::io_context& io, done_fn done);
  ~upgrade();
  upgrade(const upgrade&) = delete;
  upgrade& operator=(const upgrade&) = delete;

  bool in_progress() const { return pid_ > 0 && !finished_; }

  // Sends `groups`, then starts the new process. Returns its pid, or 0 with
  // `error` set when it could not be started (nothing changed then).
  pid_t start(const launch_info& how, const std::vector<socket_group>& groups, std::chrono::milliseconds timeout,
              std::string& error);

  // SIGCHLD: reaps the new process if it exited (a failure until it is ready).
  void reap();
  // This process stops (SIGTERM) before the new one is ready: that one is
  // sent SIGTERM too (it drains what it took), and the upgrade fails.
  void abandon();

 private:
  void wait_message();
  void finish(outcome o);

  boost::asio::posix::stream_descriptor channel_;
  boost::asio::steady_timer timer_;
  done_fn done_;
  pid_t pid_ = 0;
  bool finished_ = false;
  bool ready_ = false;
};

}  // namespace lb::control
