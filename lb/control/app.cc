#include "lb/control/app.h"

#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "lb/accesslog/access_log.h"
#include "lb/admin/page.h"
#include "lb/admin/server.h"
#include "lb/admin/stats.h"
#include "lb/admin/views.h"
#include "lb/config/file_source.h"
#include "lb/control/compile.h"
#include "lb/control/dns_refresh.h"
#include "lb/control/fd_budget.h"
#include "lb/control/file_watch.h"
#include "lb/control/handover.h"
#include "lb/control/memory_watch.h"
#include "lb/control/sd_notify.h"
#include "lb/control/upgrade.h"
#include "lb/health/checker.h"
#include "lb/core/log.h"
#include "lb/core/version.h"
#include "lb/listener/listen_socket.h"
#include "lb/runtime/snapshot.h"
#include "lb/tls/server_contexts.h"
#include "lb/runtime/worker.h"

namespace lb::control {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

tcp::endpoint to_endpoint(const config::address& a) { return {asio::ip::make_address(a.host), a.port}; }

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The process while it runs: owns the workers, the live registry, the admin
// server and every control-thread job. Everything here runs on the control
// thread (the main thread), so none of it needs a lock.
class controller {
 public:
  controller(std::string path, launch_info how) : path_(std::move(path)), source_(path_), how_(std::move(how)) {
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGCHLD}) signals_.add(sig);
  }

  // Tells the process that started this one (an upgrade) that it failed.
  void report_failed(const std::string& why) { handover_.failed(why); }

  int run() {
    if (!handover_.receive()) return 1;
    auto first = source_.load();
    for (const auto& d : first.errors) std::cerr << d.str() << '\n';
    if (!first.ok()) {
      report_failed("config invalid: " + (first.errors.empty() ? std::string("see its log") : first.errors.front().str()));
      return 1;
    }
    workers_count_ = worker_count(*first.cfg);
    fd_limit_ = raise_fd_limit().soft;
    if (auto e = fd_budget_error(*first.cfg, workers_count_, fd_limit_)) {
      std::cerr << *e << '\n';
      return 1;
    }
    // Each connection may hold a client and an upstream descriptor: past the
    // limit, accepts pause (lb_accept_errors_total{reason="fd_limit"}).
    std::uint64_t wanted_fds = fixed_descriptors(*first.cfg, workers_count_);
    for (const auto& l : first.cfg->listeners) wanted_fds += 2 * l.limits.max_connections;
    log::info("file descriptor limit",
              {{"limit", std::to_string(fd_limit_)}, {"max_connections_need", std::to_string(wanted_fds)}});
    registry_ = std::make_unique<upstream::live_registry>(workers_count_);

    auto outcome = compile(first, path_, 1, *registry_, tls_cache_);
    for (const auto& e : outcome.errors) std::cerr << e << '\n';
    if (!outcome.snap) return 1;
    current_ = outcome.snap;
    dns_ = std::move(outcome.dns);
    registry_->retain_only_used();
    file_digest_ = std::move(first.digest);
    facts_.reloads_success = 1;
    facts_.last_reload_success_unix = facts_.started_unix = unix_now();
    facts_.workers = workers_count_;
    facts_.pid = ::getpid();
    facts_.last_reload = {true, facts_.started_unix, "startup", {}};

    try {
      if (current_->cfg->access_log.type != config::access_log::kind::off)
        log_sink_ = accesslog::sink::open(current_->cfg->access_log);
    } catch (const std::exception& e) {
      log::error("cannot open access log", {{"error", e.what()}});
      return 1;
    }

    for (unsigned i = 0; i < workers_count_; ++i)
      workers_.push_back(std::make_unique<runtime::worker>(i, current_, log_sink_));
    for (const auto& l : current_->listeners) {
      auto bound = bind(l);
      if (bound.empty()) return 1;
      held_[l.cfg->name] = hold(bound);
      // Handed-over sockets may outnumber this process's workers: none is left unserved.
      for (std::size_t i = 0; i < bound.size(); ++i)
        workers_[i % workers_count_]->add_listener({l.live, std::move(bound[i])});
    }

    admin_ = std::make_unique<admin::server>(control_);
    add_admin_routes();
    admin_->set_token(current_->cfg->admin.token);
    if (const auto& a = current_->cfg->admin.listen) {
      try {
        auto fds = handover_.take(handover_message::kind::admin, a->str());
        for (std::size_t i = 1; i < fds.size(); ++i) ::close(fds[i]);
        auto ep = fds.empty() ? admin_->listen(to_endpoint(*a)) : admin_->adopt(fds.front());
        log::info("admin listening", {{"address", runtime::endpoint_text(ep)}});
        if (!ep.address().is_loopback() && current_->cfg->admin.token.empty())
          log::warn("admin is not on loopback and has no token_file: POST /reload is refused (403); "
                    "reload with SIGHUP or set admin.token_file",
                    {{"address", runtime::endpoint_text(ep)}});
      } catch (const boost::system::system_error& e) {
        log::error("cannot bind admin", {{"address", a->str()}, {"error", e.what()}});
        return 1;
      }
    }

    running_ = workers_count_;
    for (auto& w : workers_) {
      w->start([this] {
        asio::post(control_, [this] {
          if (--running_ == 0) all_exited();
        });
      });
    }
    watch_ = std::make_unique<file_watch>(control_, path_, std::chrono::milliseconds(200), [this] {
      // Editors and ConfigMap swaps touch the directory in bursts, and not
      // every event changes the file: reload only when its bytes did.
      auto now = source_.digest();
      if (now.empty() || now == file_digest_) return;
      reload("file change");
    });
    watch_tls_files();
    // Off (memory_high: 0) it samples nothing; a reload can turn it on.
    memory_watch_ = std::make_unique<memory_watch>(control_, [this] { return current_->cfg->limits.memory_high; });
    wait_signal();
    dns_refresh_.schedule(current_->cfg);
    schedule_ticket_rotation();
    health_ = std::make_unique<health::checker>(control_);
    health_->update(current_);
    schedule_stats();
    ready_ = true;
    log::info("ready", {{"workers", std::to_string(workers_count_)}, {"config", path_}, {"pid", std::to_string(::getpid())}});
    if (handover_.active()) {
      // The old process tells systemd this one is the main PID now (only the
      // main PID may notify with NotifyAccess=main), then drains.
      ++facts_.upgrades_succeeded;
      handover_.ready();
    } else if (!sd_notify("READY=1\nSTATUS=serving")) {
      // systemd Type=notify: the unit is "started" once every listener is bound.
      log::warn("sd_notify failed: NOTIFY_SOCKET unreachable");
    }
    control_.run();
    for (auto& w : workers_) w->join();
    if (log_sink_) log_sink_->close();
    log::info("exited");
    return 0;
  }

 private:
  // Opens one SO_REUSEPORT socket per worker for `l`, first taking those an
  // upgrading lb handed over for the same address; logs and returns none on failure.
  std::vector<listener::listen_socket> bind(const runtime::listener_snapshot& l) {
    try {
      std::vector<listener::listen_socket> sockets;
      for (int fd : handover_.take(handover_message::kind::listener, l.cfg->listen.str()))
        sockets.push_back(listener::adopt_listening(fd));
      const std::size_t adopted = sockets.size();
      if (sockets.size() < workers_count_) {
        // Port 0 was resolved by the adopted sockets: the new ones join them.
        const auto ep = sockets.empty() ? to_endpoint(l.cfg->listen) : sockets.front().local_endpoint();
        for (auto& s : listener::bind_reuseport(control_, workers_count_ - static_cast<unsigned>(sockets.size()), ep))
          sockets.push_back(std::move(s));
      }
      const auto bound = sockets.front().local_endpoint();
      bound_[l.cfg->name] = l.cfg->listen.str();
      log::info("listener bound", {{"listener", l.cfg->name},
                                   {"address", runtime::endpoint_text(bound)},
                                   {"workers", std::to_string(workers_count_)},
                                   {"adopted", std::to_string(adopted)}});
      return sockets;
    } catch (const boost::system::system_error& e) {
      log::error("cannot bind listener",
                 {{"listener", l.cfg->name}, {"address", l.cfg->listen.str()}, {"error", e.what()}});
      return {};
    }
  }

  // Duplicates of a listener's sockets, kept to hand over in an upgrade.
  static owned_fds hold(const std::vector<listener::listen_socket>& sockets) {
    owned_fds out;
    for (const auto& s : sockets)
      if (!out.dup_of(s.native_handle())) log::warn("cannot keep a listening socket for upgrades");
    return out;
  }

  struct reload_result {
    bool ok = false;
    std::uint64_t version = 0;
    std::vector<std::string> errors;
  };

  // Validate and compile the file, bind what is new, then switch every
  // worker. Any failure leaves the running config untouched.
  reload_result reload(std::string_view trigger) {
    reload_result r;
    if (draining_) {
      r.errors.push_back("draining: reload refused");
      return r;
    }
    auto parsed = source_.load();
    auto outcome = compile(parsed, path_, current_->version + 1, *registry_, tls_cache_);
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
    registry_->retain_only_used();
    file_digest_ = std::move(parsed.digest);
    dns_refresh_.schedule(current_->cfg);
    watch_tls_files();
    if (health_) health_->update(current_);
    ++facts_.reloads_success;
    facts_.last_reload_success_unix = unix_now();
    facts_.last_reload = {true, facts_.last_reload_success_unix, std::string(trigger), {}};
    facts_.file_changed_unix = 0;
    log::info("config reloaded", {{"trigger", trigger}, {"version", std::to_string(current_->version)}});
    r.ok = true;
    r.version = current_->version;
    return r;
  }

  // Watches the folders of every certificate, key, OCSP response, client CA
  // and CRL the running config names (made anew when that set of folders changes).
  void watch_tls_files() {
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
    std::sort(dirs.begin(), dirs.end());
    dirs.erase(std::unique(dirs.begin(), dirs.end()), dirs.end());
    if (dirs == tls_dirs_ && (tls_watch_ || dirs.empty())) return;
    tls_dirs_ = dirs;
    tls_watch_.reset();
    if (files.empty() || draining_) return;
    tls_watch_ = std::make_unique<file_watch>(control_, files, std::chrono::milliseconds(200),
                                              [this] { reload_certificates("certificate file change"); }, "TLS file");
  }

  // Rebuilds the snapshot from the running config when a certificate, key or
  // OCSP file changed: the context cache rebuilds only the contexts whose
  // files' bytes changed. A broken file refuses the whole swap and the
  // running certificates keep serving; connections keep their sessions either
  // way (each holds its own context).
  void reload_certificates(std::string_view trigger) {
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

  // Session-ticket keys lb makes itself get a new encrypting key every
  // ticket_key_rotation; the previous one still decrypts for one period.
  void schedule_ticket_rotation() {
    ticket_timer_.expires_after(current_->cfg->tls.ticket_key_rotation);
    ticket_timer_.async_wait([this](boost::system::error_code ec) {
      if (ec || draining_) return;
      ticket_keys_.rotate();
      schedule_ticket_rotation();
    });
  }

  // Counts a failed load for /metrics and the status page. `digest` is the
  // source's at this load: when it differs from the running config's, the
  // running config is older than its file from now (or the earlier failure) on.
  void reload_failed(std::string_view trigger, const std::vector<std::string>& errors, const std::string& digest) {
    ++facts_.reloads_failure;
    facts_.last_reload = {false, unix_now(), std::string(trigger), errors};
    if (!digest.empty() && digest != file_digest_ && facts_.file_changed_unix == 0)
      facts_.file_changed_unix = facts_.last_reload.at_unix;
  }

  // Samples the counters behind /stats and the status page every period.
  void schedule_stats() {
    stats_.sample(*current_, unix_now());
    if (draining_) return;
    stats_timer_.expires_after(admin::stats_history::period);
    stats_timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec) schedule_stats();
    });
  }

  // dns_refresh found new addresses: publish them in a new snapshot.
  void dns_changed() {
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

  void add_admin_routes() {
    using admin::reply;
    admin_->route(bhttp::verb::get, "/healthz", [] { return reply{bhttp::status::ok, "ok\n"}; });
    admin_->route(bhttp::verb::get, "/readyz", [this] {
      if (draining_) return reply{bhttp::status::service_unavailable, "draining\n"};
      if (!ready_) return reply{bhttp::status::service_unavailable, "not ready\n"};
      return reply{bhttp::status::ok, "ready\n"};
    });
    admin_->route(bhttp::verb::get, "/metrics", [this] {
      return reply{bhttp::status::ok, admin::render_metrics(*current_, facts_, lb::version),
                   "text/plain; version=0.0.4; charset=utf-8"};
    });
    admin_->route(bhttp::verb::get, "/config", [this] {
      return reply{bhttp::status::ok, admin::render_config(*current_), "application/json"};
    });
    admin_->route(bhttp::verb::get, "/pools", [this] {
      return reply{bhttp::status::ok, admin::render_pools(*current_), "application/json"};
    });
    admin_->route(bhttp::verb::get, "/stats", [this] {
      return reply{bhttp::status::ok, stats_.render(*current_, facts_, unix_now()).dump(2) + "\n", "application/json"};
    });
    for (const char* page : {"/", "/ui"}) {
      admin_->route(bhttp::verb::get, page, [this] {
        return reply{bhttp::status::ok, admin::render_page(stats_.render(*current_, facts_, unix_now())),
                     "text/html; charset=utf-8"};
      });
    }
    admin_->route(bhttp::verb::post, "/upgrade", [this] {
      nlohmann::json body;
      std::string refused;
      const pid_t pid = start_upgrade("POST /upgrade", refused);
      if (pid > 0) body["pid"] = pid;
      else body["error"] = refused;
      return reply{pid > 0 ? bhttp::status::accepted : bhttp::status::conflict, body.dump() + "\n", "application/json"};
    });
    admin_->route(bhttp::verb::post, "/reload", [this] {
      auto r = reload("POST /reload");
      nlohmann::json body;
      if (r.ok) body["version"] = r.version;
      else body["errors"] = r.errors;
      return reply{r.ok ? bhttp::status::ok : bhttp::status::bad_request, body.dump() + "\n", "application/json"};
    });
  }

  void wait_signal() {
    signals_.async_wait([this](boost::system::error_code ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        reload("SIGHUP");
      } else if (sig == SIGUSR1) {
        if (log_sink_) log_sink_->reopen();
        log::info("access log reopened");
      } else if (sig == SIGUSR2) {
        std::string refused;
        start_upgrade("SIGUSR2", refused);
      } else if (sig == SIGCHLD) {
        upgrade_.reap();
      } else {
        drain(sig == SIGTERM ? "SIGTERM" : "SIGINT", false);
      }
      wait_signal();
    });
  }

  // Binary upgrade (SIGUSR2, POST /upgrade): starts the new process with
  // the listening sockets; drains once it serves. Returns its pid, or 0 with
  // `refused` set (and logged) when none was started.
  pid_t start_upgrade(std::string_view trigger, std::string& refused) {
    if (draining_) refused = "draining";
    else if (upgrade_.in_progress()) refused = "an upgrade is already in progress";
    else if (::getpid() == 1)
      refused = "lb is PID 1 (a container's init): its exit would end the container; run it under an init "
                "(docker run --init, tini) to upgrade in place";
    pid_t pid = 0;
    if (refused.empty()) {
      std::vector<socket_group> groups;
      for (const auto& [name, fds] : held_)
        groups.push_back({handover_message::kind::listener, bound_[name], fds.fds()});
      if (admin_ && admin_->native_handle() >= 0 && current_->cfg->admin.listen)
        groups.push_back({handover_message::kind::admin, current_->cfg->admin.listen->str(), {admin_->native_handle()}});
      pid = upgrade_.start(how_, groups, upgrade_timeout, refused);
    }
    if (pid == 0) {
      ++facts_.upgrades_refused;
      log::warn("upgrade refused: keeping this process", {{"trigger", trigger}, {"reason", refused}});
      return 0;
    }
    log::info("upgrade started", {{"trigger", trigger}, {"binary", how_.exe}, {"pid", std::to_string(pid)}});
    return pid;
  }

  void upgrade_done(const upgrade::outcome& o) {
    if (!o.ok) {
      ++facts_.upgrades_failed;
      log::error("upgrade failed: keeping this process", {{"pid", std::to_string(o.pid)}, {"reason", o.reason}});
      return;
    }
    log::info("upgrade: the new process serves; draining this one", {{"pid", std::to_string(o.pid)}});
    if (!sd_notify("MAINPID=" + std::to_string(o.pid) + "\nSTATUS=upgraded"))
      log::warn("sd_notify failed: NOTIFY_SOCKET unreachable");
    drain("upgrade", true);
  }

  // Stop accepting and let the workers finish (SIGTERM, SIGINT, or handing
  // over to an upgrade's new process); exit when they have.
  void drain(std::string_view why, bool handover) {
    if (draining_) return;
    draining_ = true;
    const auto timeout = current_->cfg->drain_timeout;
    log::info("draining", {{"signal", why}, {"drain_timeout_ms", std::to_string(timeout.count())}});
    // The duplicates kept for an upgrade would keep the sockets accepting.
    held_.clear();
    upgrade_.abandon();
    if (handover && admin_) admin_->stop_accepting();
    if (watch_) watch_->stop();
    if (tls_watch_) tls_watch_->stop();
    dns_refresh_.stop();
    if (memory_watch_) memory_watch_->stop();
    ticket_timer_.cancel();
    stats_timer_.cancel();
    if (health_) health_->stop();
    for (auto& w : workers_) w->begin_drain(handover);
    // After a handover the service goes on (systemd follows the new MAINPID).
    if (!handover) sd_notify("STOPPING=1\nSTATUS=draining");
    drain_timer_.expires_after(timeout);
    drain_timer_.async_wait([this](boost::system::error_code e) {
      if (e) return;
      log::warn("drain timeout: closing remaining connections");
      for (auto& w : workers_) w->force_close();
    });
  }

  void all_exited() {
    upgrade_.abandon();
    if (admin_) admin_->stop();
    if (watch_) watch_->stop();
    if (tls_watch_) tls_watch_->stop();
    if (memory_watch_) memory_watch_->stop();
    signals_.cancel();
    drain_timer_.cancel();
    dns_refresh_.stop();
    ticket_timer_.cancel();
    stats_timer_.cancel();
    if (health_) health_->stop();
  }

  // How long an upgrade's new process may take to serve before it counts as failed.
  static constexpr auto upgrade_timeout = std::chrono::seconds(30);

  std::string path_;
  config::file_source source_;
  launch_info how_;
  // Before anything holding a snapshot: TLS contexts point at the keys.
  tls::ticket_keys ticket_keys_;
  tls::context_cache tls_cache_{ticket_keys_};
  asio::io_context control_;
  asio::signal_set signals_{control_};
  asio::steady_timer drain_timer_{control_};
  asio::steady_timer ticket_timer_{control_};
  asio::steady_timer stats_timer_{control_};
  admin::stats_history stats_;
  runtime::dns_cache dns_;
  dns_refresh dns_refresh_{control_, dns_, [this] { dns_changed(); }};
  unsigned workers_count_ = 0;
  std::unique_ptr<upstream::live_registry> registry_;
  std::shared_ptr<const runtime::snapshot> current_;
  std::string file_digest_;  // the file's bytes at the last successful load
  std::shared_ptr<accesslog::sink> log_sink_;
  std::vector<std::unique_ptr<runtime::worker>> workers_;
  std::map<std::string, std::string> bound_;  // listener name -> address it is bound to
  std::map<std::string, owned_fds> held_;      // listener name -> its sockets, to hand over
  handover_in handover_;                       // from the old process, while starting after an upgrade
  upgrade upgrade_{control_, [this](const upgrade::outcome& o) { upgrade_done(o); }};
  std::unique_ptr<admin::server> admin_;
  std::unique_ptr<file_watch> watch_;
  std::unique_ptr<memory_watch> memory_watch_;
  std::unique_ptr<file_watch> tls_watch_;
  std::vector<std::string> tls_dirs_;  // the folders tls_watch_ watches
  std::unique_ptr<health::checker> health_;
  admin::control_facts facts_;
  unsigned running_ = 0;
  std::uint64_t fd_limit_ = 0;  // RLIMIT_NOFILE once raised at start
  bool ready_ = false;
  bool draining_ = false;
};

}  // namespace

int run(const std::string& path, const launch_info& how) {
  controller c(path, how);
  const int rc = c.run();
  if (rc != 0) c.report_failed("startup failed: see its log");
  return rc;
}

}  // namespace lb::control
