// The controller's reloads: the config file (SIGHUP, POST /reload, a file
// change), certificate files, DNS answers and session-ticket key rotation.
// Each builds a new snapshot (a change to pools alone builds just those
// pools) and switches every worker, or changes nothing.
#include <algorithm>
#include <filesystem>

#include "lb/control/compile.h"
#include "lb/control/controller.h"
#include "lb/control/fd_budget.h"
#include "lb/core/log.h"

namespace lb::control {

controller::reload_result controller::reload(std::string_view trigger) {
  reload_result r;
  if (draining_) {
    r.errors.push_back("draining: reload refused");
    return r;
  }
  auto parsed = ingress_.merge(source_.load());
  // A change to pools alone (an EndpointSlice, an endpoint edited in the
  // file) builds just those pools; the rest of the snapshot is shared.
  auto outcome = recompile(parsed, *current_, path_, current_->version + 1, *registry_, tls_cache_);
  if (outcome.snap) {
    if (auto e = fd_budget_error(*outcome.snap->cfg, workers_count_, fd_limit_)) {
      outcome.snap = nullptr;
      outcome.errors.push_back(std::move(*e));
    }
  }
  if (!outcome.snap) {
    reload_failed(trigger, outcome.errors, parsed.digest);
    for (const auto& e : outcome.errors) log::error("config invalid", {{"trigger", trigger}, {"error", e}});
    log::warn("reload failed: keeping the running config",
              {{"trigger", trigger}, {"version", std::to_string(current_->version)}});
    r.errors = std::move(outcome.errors);
    return r;
  }
  const auto& next = *outcome.snap;
  const unsigned wanted = worker_count(*next.cfg);
  if (wanted != workers_count_)
    log::warn("workers change needs a restart", {{"running", std::to_string(workers_count_)},
                                                 {"configured", std::to_string(wanted)}});
  if (next.cfg->admin.listen.has_value() != current_->cfg->admin.listen.has_value() ||
      (next.cfg->admin.listen && next.cfg->admin.listen->str() != current_->cfg->admin.listen->str()))
    log::warn("admin.listen change needs a restart");
  if (next.cfg->access_log.type != current_->cfg->access_log.type ||
      next.cfg->access_log.path != current_->cfg->access_log.path)
    log::warn("access_log change needs a restart");

  // Bind new and re-addressed listeners before anything switches.
  std::vector<std::vector<runtime::new_listener>> added(workers_count_);
  std::map<std::string, std::string> bound = bound_;
  std::map<std::string, owned_fds> held;
  for (const auto& l : next.listeners) {
    auto it = bound_.find(l.cfg->name);
    if (it != bound_.end() && it->second == l.cfg->listen.str()) continue;
    auto sockets = bind(l);
    if (sockets.empty()) {
      bound_ = bound;  // forget the partial binds; their sockets close with `added`
      r.errors.push_back(path_ + ": cannot bind listener '" + l.cfg->name + "' on " + l.cfg->listen.str());
      reload_failed(trigger, r.errors, parsed.digest);
      log::warn("reload failed: keeping the running config",
                {{"trigger", trigger}, {"version", std::to_string(current_->version)}});
      return r;
    }
    held[l.cfg->name] = hold(sockets);
    for (std::size_t i = 0; i < sockets.size(); ++i) added[i % workers_count_].push_back({l.live, std::move(sockets[i])});
  }
  for (auto& [name, fds] : held) held_[name] = std::move(fds);
  for (auto it = bound_.begin(); it != bound_.end();) {
    bool kept = false;
    for (const auto& l : next.listeners) kept |= l.cfg->name == it->first;
    if (kept) ++it;
    else {
      log::info("listener removed", {{"listener", it->first}});
      held_.erase(it->first);  // a kept duplicate would keep the socket accepting
      it = bound_.erase(it);
    }
  }

  for (unsigned w = 0; w < workers_count_; ++w) workers_[w]->apply(outcome.snap, std::move(added[w]));
  current_ = outcome.snap;
  if (admin_) admin_->set_token(current_->cfg->admin.token);
  dns_ = std::move(outcome.dns);
  if (outcome.republished) registry_->retain_only_used(outcome.rebuilt_pools);
  else registry_->retain_only_used();
  file_digest_ = std::move(parsed.digest);
  dns_refresh_.schedule(current_->cfg);
  watch_tls_files();
  if (health_) health_->update(current_);
  ++facts_.reloads_success;
  facts_.last_reload_success_unix = unix_now();
  facts_.last_reload = {true, facts_.last_reload_success_unix, std::string(trigger), {}};
  facts_.file_changed_unix = 0;
  log::info("config reloaded", {{"trigger", trigger},
                                {"version", std::to_string(current_->version)},
                                {"pools_rebuilt", outcome.republished ? std::to_string(outcome.rebuilt_pools.size())
                                                                      : std::string("all")}});
  r.ok = true;
  r.version = current_->version;
  return r;
}

void controller::reload_failed(std::string_view trigger, const std::vector<std::string>& errors, const std::string& digest) {
  ++facts_.reloads_failure;
  facts_.last_reload = {false, unix_now(), std::string(trigger), errors};
  if (!digest.empty() && digest != file_digest_ && facts_.file_changed_unix == 0)
    facts_.file_changed_unix = facts_.last_reload.at_unix;
}

void controller::watch_tls_files() {
  std::vector<std::string> files, dirs;
  auto add = [&](const std::string& f) {
    if (f.empty()) return;
    files.push_back(f);
    dirs.push_back(std::filesystem::absolute(f).parent_path().string());
  };
  for (const auto& l : current_->cfg->listeners) {
    if (!l.tls) continue;
    for (const auto& c : l.tls->certificates)
      for (const auto* f : {&c.cert, &c.key, &c.ocsp}) add(*f);
    // Client CAs and CRLs reload with the certificates.
    add(l.tls->client_ca);
    add(l.tls->crl);
  }
  // The watch counts events by file name: it is made again when a name changes.
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  std::sort(dirs.begin(), dirs.end());
  dirs.erase(std::unique(dirs.begin(), dirs.end()), dirs.end());
  if (dirs == tls_dirs_ && files == tls_files_ && (tls_watch_ || dirs.empty())) return;
  tls_dirs_ = dirs;
  tls_files_ = files;
  tls_watch_.reset();
  if (files.empty() || draining_) return;
  tls_watch_ = std::make_unique<file_watch>(control_, files, std::chrono::milliseconds(200),
                                            [this] { reload_certificates("certificate file change"); }, "TLS file");
}

void controller::reload_certificates(std::string_view trigger) {
  if (draining_) return;
  std::vector<std::string> errors;
  auto snap = runtime::build_snapshot(current_->cfg, current_->version + 1, *registry_, dns_, tls_cache_, errors);
  if (!snap) {
    for (auto& e : errors) {
      if (e.rfind(path_ + ":", 0) != 0) e = path_ + ": " + e;
      log::error("certificate reload refused: keeping the running certificates",
                 {{"trigger", trigger}, {"error", e}});
    }
    reload_failed(trigger, errors, {});
    return;
  }
  bool changed = false;
  for (std::size_t i = 0; i < snap->listeners.size(); ++i) {
    const auto& now = snap->listeners[i].tls;
    const auto& was = current_->listeners[i].tls;
    changed |= now && was && !now->same_contexts(*was);
  }
  if (!changed) return;  // an event in the folder that changed none of the files
  for (auto& w : workers_) w->apply(snap, {});
  current_ = snap;
  registry_->retain_only_used();
  if (health_) health_->update(current_);
  ++facts_.reloads_success;
  facts_.last_reload_success_unix = unix_now();
  facts_.last_reload = {true, facts_.last_reload_success_unix, std::string(trigger), {}};
  log::info("certificates reloaded", {{"trigger", trigger}, {"version", std::to_string(current_->version)}});
}

void controller::dns_changed() {
  if (draining_) return;
  std::vector<std::string> errors;
  auto snap = runtime::build_snapshot(current_->cfg, current_->version + 1, *registry_, dns_, tls_cache_, errors);
  if (!snap) {
    for (const auto& e : errors) log::error("dns update not applied", {{"error", e}});
    return;
  }
  for (auto& w : workers_) w->apply(snap, {});
  current_ = snap;
  registry_->retain_only_used();
  if (health_) health_->update(current_);
}

void controller::schedule_ticket_rotation() {
  ticket_timer_.expires_after(current_->cfg->tls.ticket_key_rotation);
  ticket_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || draining_) return;
    ticket_keys_.rotate();
    schedule_ticket_rotation();
  });
}
}  // namespace lb::control
