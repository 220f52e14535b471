#include "lb/control/compile.h"

#include <algorithm>
#include <thread>

#include "lb/config/diagnostic.h"

namespace lb::control {

namespace {

// The top-level `tls:` session ticket keys: the file's, or lb's own.
void load_ticket_keys(const config::config& cfg, tls::context_cache& tls, std::vector<std::string>& errors) {
  const auto& sessions = cfg.tls;
  if (!sessions.ticket_keys_file.empty()) {
    if (auto why = tls.keys().load_file(sessions.ticket_keys_file); !why.empty())
      errors.push_back(config::diagnostic::at(sessions.ticket_keys_file_pos, why).str());
  } else {
    tls.keys().use_own();
  }
}

// Problems with files the config names carry their own FILE:LINE:COL.
void add_errors(const std::vector<std::string>& errors, const std::string& path, load_outcome& out) {
  for (const auto& e : errors) out.errors.push_back(e.rfind(path + ":", 0) == 0 ? e : path + ": " + e);
}

// Whether every TLS listener of `prev` would serve the contexts it serves
// now: its files hold the same bytes (the cache builds any that changed).
bool same_certificates(const runtime::snapshot& prev, tls::context_cache& tls) {
  for (const auto& l : prev.listeners) {
    if (!l.tls) continue;
    std::vector<std::string> errors;
    const auto now = tls::build_server_contexts(*l.cfg->tls, tls, errors);
    if (!now || !errors.empty() || !now->same_contexts(*l.tls)) return false;
  }
  return true;
}

}  // namespace

load_outcome compile(const config::load_result& r, const std::string& path, std::uint64_t version,
                     upstream::live_registry& registry, tls::context_cache& tls, runtime::dns_cache seed) {
  load_outcome out;
  out.dns = std::move(seed);
  for (const auto& d : r.errors) out.errors.push_back(d.str());
  if (!r.ok()) return out;
  load_ticket_keys(*r.cfg, tls, out.errors);
  std::vector<std::string> errors;
  // A reload resolves hostnames afresh: what the file names now is what counts.
  out.snap = runtime::build_snapshot(r.cfg, version, registry, out.dns, tls, errors);
  add_errors(errors, path, out);
  if (!out.errors.empty()) out.snap = nullptr;
  return out;
}

load_outcome recompile(const config::load_result& r, const runtime::snapshot& prev, const std::string& path,
                       std::uint64_t version, upstream::live_registry& registry, tls::context_cache& tls) {
  if (!r.ok() || !config::differs_in_pools_only(*prev.cfg, *r.cfg) || !same_certificates(prev, tls))
    return compile(r, path, version, registry, tls);
  load_outcome out;
  load_ticket_keys(*r.cfg, tls, out.errors);
  std::vector<std::string> errors;
  out.snap = runtime::republish_pools(prev, r.cfg, version, registry, out.dns, out.rebuilt_pools, errors);
  add_errors(errors, path, out);
  if (!out.errors.empty()) {
    out.snap = nullptr;
    return out;
  }
  out.republished = true;
  return out;
}

unsigned worker_count(const config::config& c) {
  return c.workers ? c.workers : std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace lb::control
