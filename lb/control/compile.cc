#include "lb/control/compile.h"

#include <algorithm>
#include <thread>

#include "lb/config/diagnostic.h"

namespace lb::control {

// Thread: control. Resolve and compile a loaded config into a snapshot.
load_outcome compile(const config::load_result& r, const std::string& path, std::uint64_t version,
                     upstream::live_registry& registry, tls::context_cache& tls, runtime::dns_cache seed) {
  load_outcome out;
  out.dns = std::move(seed);
  for (const auto& d : r.errors) out.errors.push_back(d.str());
  if (!r.ok()) return out;
  std::vector<std::string> errors;
  const auto& sessions = r.cfg->tls;
  if (!sessions.ticket_keys_file.empty()) {
    if (auto why = tls.keys().load_file(sessions.ticket_keys_file); !why.empty())
      out.errors.push_back(config::diagnostic::at(sessions.ticket_keys_file_pos, why).str());
  } else {
    tls.keys().use_own();
  }
  // A reload resolves hostnames afresh: what the file names now is what counts.
  out.snap = runtime::build_snapshot(r.cfg, version, registry, out.dns, tls, errors);
  // Problems with files the config names carry their own FILE:LINE:COL.
  for (const auto& e : errors) out.errors.push_back(e.rfind(path + ":", 0) == 0 ? e : path + ": " + e);
  if (!out.errors.empty()) out.snap = nullptr;
  return out;
}

unsigned worker_count(const config::config& c) {
  return c.workers ? c.workers : std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace lb::control
