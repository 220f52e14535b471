#pragma once
// The process: load the config, bind every listener on every worker, start the
// workers and the admin server, then run the control thread's loop (signals,
// drain) until the workers have exited.

#include <string>

#include "lb/config/source.h"

namespace lb::control {

// Thread: main. Runs lb with the config at `path`. Returns the exit code:
// 0 after a graceful drain, 1 when the config is invalid or cannot be served.
int run(const std::string& path);

// Thread: main. `lb --check`: loads `source` and compiles it as a reload
// would, prints each error as FILE:LINE:COL: message on stderr. Returns 0
// when valid, 1 otherwise. `resolve` false takes every hostname endpoint as
// resolvable (`--no-resolve`).
int check(config::config_source& source, bool resolve = true);

}  // namespace lb::control
