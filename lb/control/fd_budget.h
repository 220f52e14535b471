#pragma once
// File descriptors against RLIMIT_NOFILE. lb raises its soft limit to the
// hard one at start (HAProxy sizes itself the same way; nginx needs
// worker_rlimit_nofile), and refuses a config whose listening sockets alone
// would leave no room for connections: better `lb --check` failing than a
// process that binds everything and then answers nobody (EMFILE on accept).

#include <cstdint>
#include <optional>
#include <string>

#include "lb/config/config.h"

namespace lb::control {

struct fd_limits {
  std::uint64_t soft = 0;
  std::uint64_t hard = 0;
};

// Thread: control. The process's RLIMIT_NOFILE.
fd_limits current_fd_limits();
// Thread: control, at start. Raises the soft limit to the hard one; returns
// the limits in force afterwards (unchanged if the kernel refused).
fd_limits raise_fd_limit();

// Descriptors the process holds with no connection open: every listener's
// socket on every worker, each worker's event loop, the control thread's.
std::uint64_t fixed_descriptors(const config::config& c, unsigned workers);

// Connections lb must be able to open at the least (client and upstream
// side of a few exchanges per worker) on top of the fixed descriptors.
inline constexpr std::uint64_t min_connection_descriptors = 64;

// A `FILE:LINE:COL: message` when the config's fixed descriptors plus
// min_connection_descriptors exceed `limit`, placed at the first listener
// past it; none when it fits.
std::optional<std::string> fd_budget_error(const config::config& c, unsigned workers, std::uint64_t limit);

}  // namespace lb::control
