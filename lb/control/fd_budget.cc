#include "lb/control/fd_budget.h"

#include <sys/resource.h>

#include "lb/config/diagnostic.h"

namespace lb::control {

namespace {

// Per worker: epoll, its eventfd, a timerfd, and a few pipes kept for
// splice(); the control thread: the same loop, inotify watches, the admin
// listener, the access log, stdio. Generous rather than exact: it only
// decides whether a config can serve at all.
constexpr std::uint64_t per_worker = 8;
constexpr std::uint64_t control_thread = 32;

}  // namespace

fd_limits current_fd_limits() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0) return {};
  return {r.rlim_cur, r.rlim_max};
}

fd_limits raise_fd_limit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    rlimit up = r;
    up.rlim_cur = r.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &up);  // refused: keep the soft limit we have
  }
  return current_fd_limits();
}

std::uint64_t fixed_descriptors(const config::config& c, unsigned workers) {
  return control_thread + std::uint64_t{workers} * (per_worker + c.listeners.size());
}

std::optional<std::string> fd_budget_error(const config::config& c, unsigned workers, std::uint64_t limit) {
  std::uint64_t need = control_thread + std::uint64_t{workers} * per_worker + min_connection_descriptors;
  for (std::size_t i = 0; i < c.listeners.size(); ++i) {
    need += workers;
    if (need <= limit) continue;
    const auto& l = c.listeners[i];
    return config::diagnostic::at(l.name_pos, "listener '" + l.name + "' passes the file descriptor limit: " +
                                                  std::to_string(c.listeners.size()) + " listeners on " +
                                                  std::to_string(workers) + " workers need at least " +
                                                  std::to_string(fixed_descriptors(c, workers) + min_connection_descriptors) +
                                                  " descriptors and RLIMIT_NOFILE allows " + std::to_string(limit) +
                                                  " (raise it: ulimit -n, LimitNOFILE=, or fewer workers)")
        .str();
  }
  return std::nullopt;
}

}  // namespace lb::control
