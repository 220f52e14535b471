#pragma once
// The process: load the config, bind every listener on every worker, start the
// workers and the admin server, then run the control thread's loop (signals,
// drain) until the workers have exited.

#include <string>

#include "lb/config/loader.h"
#include "lb/config/source.h"
#include "lb/control/upgrade.h"

namespace lb::control {

// Thread: main. Runs lb with the config at `path`. Returns the exit code:
// 0 after a graceful drain, 1 when the config is invalid or cannot be served.
// `how` (the binary and arguments) is what SIGUSR2 starts anew; a process
// started that way (LB_UPGRADE_FD set) first takes the old one's sockets.
// `opts` as for every load of the file (`--kubernetes`).
int run(const std::string& path, const launch_info& how, const config::load_options& opts = {});

// Thread: main. `lb --check`: loads `source` and compiles it as a reload
// would, prints each error as FILE:LINE:COL: message on stderr. Returns 0
// when valid, 1 otherwise. `resolve` false takes every hostname endpoint as
// resolvable (`--no-resolve`).
int check(config::config_source& source, bool resolve = true);

}  // namespace lb::control
