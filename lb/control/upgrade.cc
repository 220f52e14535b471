#include "lb/control/upgrade.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "lb/core/log.h"

extern char** environ;

namespace lb::control {

namespace asio = boost::asio;

namespace {

// The new process finds its end of the pair here.
constexpr int child_fd = 3;

std::string errno_text(const char* what, int err) { return std::string(what) + ": " + std::strerror(err); }

std::string exit_text(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("killed by signal ") + ::strsignal(WTERMSIG(status));
  return "ended";
}

}  // namespace

launch_info launch_info_of(int argc, char** argv) {
  launch_info out;
  for (int i = 0; i < argc; ++i) out.argv.emplace_back(argv[i]);
  if (argc == 0) return out;
  namespace fs = std::filesystem;
  std::error_code ec;
  const std::string name = argv[0];
  if (name.find('/') != std::string::npos) {
    out.exe = fs::absolute(name, ec).string();
    return out;
  }
  // Started through PATH: the first match, as the shell found it.
  const char* path = std::getenv("PATH");
  std::string_view rest = path ? path : "";
  while (!rest.empty()) {
    const auto colon = rest.find(':');
    const auto dir = rest.substr(0, colon);
    const auto candidate = fs::path(dir.empty() ? "." : std::string(dir)) / name;
    if (::access(candidate.c_str(), X_OK) == 0) {
      out.exe = fs::absolute(candidate, ec).string();
      return out;
    }
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
  return out;
}

upgrade::upgrade(asio::io_context& io, done_fn done) : channel_(io), timer_(io), done_(std::move(done)) {}

upgrade::~upgrade() {
  boost::system::error_code ignored;
  channel_.close(ignored);
}

pid_t upgrade::start(const launch_info& how, const std::vector<socket_group>& groups,
                     std::chrono::milliseconds timeout, std::string& error) {
  if (how.exe.empty()) {
    error = "the binary lb was started from cannot be found";
    return 0;
  }
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    error = errno_text("socketpair", errno);
    return 0;
  }
  // dup2 onto itself would keep close-on-exec: keep the child's end off fd 3.
  if (sv[1] == child_fd) {
    const int moved = ::fcntl(sv[1], F_DUPFD_CLOEXEC, child_fd + 1);
    ::close(sv[1]);
    sv[1] = moved;
  }
  auto fail = [&](std::string why) {
    ::close(sv[0]);
    if (sv[1] >= 0) ::close(sv[1]);
    error = std::move(why);
    return 0;
  };
  if (sv[1] < 0) return fail(errno_text("fcntl", errno));
  // Queued before the new process runs: it reads them at startup.
  for (const auto& g : groups) {
    for (std::size_t at = 0; at < g.fds.size(); at += max_fds_per_message) {
      const auto end = std::min(g.fds.size(), at + max_fds_per_message);
      std::vector<int> chunk(g.fds.begin() + static_cast<std::ptrdiff_t>(at), g.fds.begin() + static_cast<std::ptrdiff_t>(end));
      if (auto e = send_message(sv[0], {g.what, g.address}, chunk); !e.empty()) return fail(e);
    }
  }
  if (auto e = send_message(sv[0], {handover_message::kind::end, {}}); !e.empty()) return fail(e);

  std::vector<std::string> env_text;
  const std::string key = std::string(upgrade_fd_env) + "=";
  for (char** e = environ; e && *e; ++e)
    if (std::strncmp(*e, key.c_str(), key.size()) != 0) env_text.emplace_back(*e);
  env_text.push_back(key + std::to_string(child_fd));
  std::vector<char*> envp, args;
  for (auto& e : env_text) envp.push_back(e.data());
  envp.push_back(nullptr);
  auto argv_copy = how.argv;
  for (auto& a : argv_copy) args.push_back(a.data());
  args.push_back(nullptr);

  // posix_spawn (vfork and exec) rather than fork: this process has threads.
  // The child gets its end as fd 3 and no other descriptor past stderr
  // (client connections must not outlive their close here), default signal
  // handling and an empty mask.
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, sv[1], child_fd);
  posix_spawn_file_actions_addclosefrom_np(&fa, child_fd + 1);
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, how.exe.c_str(), &fa, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  ::close(sv[1]);
  sv[1] = -1;
  if (rc != 0) return fail(errno_text(how.exe.c_str(), rc));

  boost::system::error_code ec;
  channel_.assign(sv[0], ec);
  channel_.non_blocking(true, ec);
  pid_ = pid;
  finished_ = false;
  wait_message();
  timer_.expires_after(timeout);
  timer_.async_wait([this, timeout](boost::system::error_code e) {
    if (e || finished_) return;
    // It may already serve: SIGTERM makes it drain, so nothing is cut.
    ::kill(pid_, SIGTERM);
    finish({false, pid_, "not ready within " + std::to_string(timeout.count()) + "ms; sent it SIGTERM"});
  });
  return pid;
}

void upgrade::wait_message() {
  channel_.async_wait(asio::posix::descriptor_base::wait_read, [this](boost::system::error_code ec) {
    if (ec || finished_) return;
    handover_message m;
    std::vector<int> fds;
    const auto e = receive_message(channel_.native_handle(), std::chrono::milliseconds(0), m, fds);
    for (int fd : fds) ::close(fd);  // none are expected this way
    if (e == "timeout") return wait_message();
    if (!e.empty()) return finish({false, pid_, "the new process ended the handover before it was ready (" + e + ")"});
    if (m.what == handover_message::kind::ready) return finish({true, pid_, {}});
    if (m.what == handover_message::kind::failed) return finish({false, pid_, m.arg});
    finish({false, pid_, "unexpected handover message"});
  });
}

void upgrade::reap() {
  for (;;) {
    int status = 0;
    const pid_t p = ::waitpid(-1, &status, WNOHANG);
    if (p <= 0) return;
    if (p == pid_ && !finished_) finish({false, pid_, "the new process " + exit_text(status) + " before it was ready"});
    else if (p == pid_ && ready_)
      log::warn("upgrade: the new process ended while this one drains",
                {{"pid", std::to_string(p)}, {"status", exit_text(status)}});
  }
}

void upgrade::abandon() {
  if (!in_progress()) return;
  ::kill(pid_, SIGTERM);
  finish({false, pid_, "this process is stopping; sent the new one SIGTERM"});
}

void upgrade::finish(outcome o) {
  finished_ = true;
  ready_ = o.ok;
  timer_.cancel();
  boost::system::error_code ignored;
  channel_.close(ignored);
  done_(o);
}

}  // namespace lb::control
