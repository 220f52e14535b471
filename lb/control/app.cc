#include "lb/control/app.h"

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
#include "lb/control/fd_budget.h"
#include "lb/control/file_watch.h"
#include "lb/control/sd_notify.h"
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
  explicit controller(std::string path) : path_(std::move(path)), source_(path_) {
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGUSR1}) signals_.add(sig);
  }

  int run() {
    auto first = source_.load();
    for (const auto& d : first.errors) std::cerr << d.str() << '\n';
    if (!first.ok()) return 1;
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
      for (unsigned w = 0; w < workers_count_; ++w) workers_[w]->add_listener({l.live, std::move(bound[w])});
    }

    admin_ = std::make_unique<admin::server>(control_);
    add_admin_routes();
    admin_->set_token(current_->cfg->admin.token);
    if (const auto& a = current_->cfg->admin.listen) {
      try {
        auto ep = admin_->listen(to_endpoint(*a));
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
    wait_signal();
    schedule_dns();
    schedule_ticket_rotation();
    health_ = std::make_unique<health::checker>(control_);
    health_->update(current_);
    schedule_stats();
    ready_ = true;
    log::info("ready", {{"workers", std::to_string(workers_count_)}, {"config", path_}});
    // systemd Type=notify: the unit is "started" once every listener is bound.
    if (!sd_notify("READY=1\nSTATUS=serving")) log::warn("sd_notify failed: NOTIFY_SOCKET unreachable");
    control_.run();
    for (auto& w : workers_) w->join();
    if (log_sink_) log_sink_->close();
    log::info("exited");
    return 0;
  }

 private:
  // Opens one SO_REUSEPORT socket per worker for `l`; logs and returns none on failure.
  std::vector<listener::listen_socket> bind(const runtime::listener_snapshot& l) {
    try {
      auto sockets = listener::bind_reuseport(control_, workers_count_, to_endpoint(l.cfg->listen));
      const auto bound = sockets.front().local_endpoint();
      bound_[l.cfg->name] = l.cfg->listen.str();
      log::info("listener bound",
                {{"listener", l.cfg->name}, {"address", runtime::endpoint_text(bound)}, {"workers", std::to_string(workers_count_)}});
      return sockets;
    } catch (const boost::system::system_error& e) {
      log::error("cannot bind listener",
                 {{"listener", l.cfg->name}, {"address", l.cfg->listen.str()}, {"error", e.what()}});
      return {};
    }
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
      for (unsigned w = 0; w < workers_count_; ++w) added[w].push_back({l.live, std::move(sockets[w])});
    }
    for (auto it = bound_.begin(); it != bound_.end();) {
      bool kept = false;
      for (const auto& l : next.listeners) kept |= l.cfg->name == it->first;
      if (kept) ++it;
      else {
        log::info("listener removed", {{"listener", it->first}});
        it = bound_.erase(it);
      }
    }

    for (unsigned w = 0; w < workers_count_; ++w) workers_[w]->apply(outcome.snap, std::move(added[w]));
    current_ = outcome.snap;
    if (admin_) admin_->set_token(current_->cfg->admin.token);
    dns_ = std::move(outcome.dns);
    registry_->retain_only_used();
    file_digest_ = std::move(parsed.digest);
    schedule_dns();
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

  // Every dns_refresh (the shortest among pools with hostname endpoints),
  // re-resolve asynchronously; publish a new snapshot only when an address
  // set changed. Connections to addresses that left finish undisturbed.
  void schedule_dns() {
    dns_timer_.cancel();
    std::optional<config::duration> every;
    for (const auto& p : current_->cfg->pools)
      for (const auto& e : p.endpoints)
        if (e.addr.is_hostname) every = every ? std::min(*every, p.dns_refresh) : p.dns_refresh;
    if (!every || draining_) return;
    dns_timer_.expires_after(*every);
    dns_timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec) refresh_dns();
    });
  }

  void refresh_dns() {
    std::map<std::string, config::address> names;
    for (const auto& p : current_->cfg->pools)
      for (const auto& e : p.endpoints)
        if (e.addr.is_hostname) names.emplace(e.addr.str(), e.addr);
    auto fresh = std::make_shared<runtime::dns_cache>();
    auto pending = std::make_shared<std::size_t>(names.size());
    const auto generation = ++dns_generation_;
    for (const auto& [key, addr] : names) {
      resolver_.async_resolve(addr.host, std::to_string(addr.port),
                              [this, key = key, fresh, pending, generation](boost::system::error_code ec,
                                                                            tcp::resolver::results_type results) {
                                if (generation != dns_generation_) return;  // a reload superseded it
                                if (!ec) {
                                  auto& v = (*fresh)[key];
                                  for (const auto& r : results)
                                    if (std::find(v.begin(), v.end(), r.endpoint()) == v.end()) v.push_back(r.endpoint());
                                  std::sort(v.begin(), v.end());
                                } else {
                                  log::warn("dns refresh failed: keeping the last addresses",
                                            {{"endpoint", key}, {"error", ec.message()}});
                                }
                                if (--*pending == 0) dns_done(*fresh);
                              });
    }
  }

  void dns_done(const runtime::dns_cache& fresh) {
    bool changed = false;
    for (const auto& [key, addrs] : fresh) {
      if (addrs.empty() || dns_[key] == addrs) continue;
      std::string list;
      for (const auto& a : addrs) {
        if (!list.empty()) list.push_back(',');
        list.append(runtime::endpoint_text(a));
      }
      log::info("dns changed", {{"endpoint", key}, {"addresses", list}});
      dns_[key] = addrs;
      changed = true;
    }
    if (changed && !draining_) {
      std::vector<std::string> errors;
      auto snap =
          runtime::build_snapshot(current_->cfg, current_->version + 1, *registry_, dns_, tls_cache_, errors);
      if (snap) {
        for (auto& w : workers_) w->apply(snap, {});
        current_ = snap;
        registry_->retain_only_used();
        if (health_) health_->update(current_);
      } else {
        for (const auto& e : errors) log::error("dns update not applied", {{"error", e}});
      }
    }
    schedule_dns();
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
      } else {
        drain(sig);
      }
      wait_signal();
    });
  }

  void drain(int sig) {
    if (draining_) return;
    draining_ = true;
    const auto timeout = current_->cfg->drain_timeout;
    log::info("draining", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"},
                           {"drain_timeout_ms", std::to_string(timeout.count())}});
    if (watch_) watch_->stop();
    if (tls_watch_) tls_watch_->stop();
    dns_timer_.cancel();
    ticket_timer_.cancel();
    stats_timer_.cancel();
    ++dns_generation_;
    if (health_) health_->stop();
    for (auto& w : workers_) w->begin_drain();
    sd_notify("STOPPING=1\nSTATUS=draining");
    drain_timer_.expires_after(timeout);
    drain_timer_.async_wait([this](boost::system::error_code e) {
      if (e) return;
      log::warn("drain timeout: closing remaining connections");
      for (auto& w : workers_) w->force_close();
    });
  }

  void all_exited() {
    if (admin_) admin_->stop();
    if (watch_) watch_->stop();
    if (tls_watch_) tls_watch_->stop();
    signals_.cancel();
    drain_timer_.cancel();
    dns_timer_.cancel();
    ticket_timer_.cancel();
    stats_timer_.cancel();
    ++dns_generation_;
    if (health_) health_->stop();
  }

  std::string path_;
  config::file_source source_;
  // Before anything holding a snapshot: TLS contexts point at the keys.
  tls::ticket_keys ticket_keys_;
  tls::context_cache tls_cache_{ticket_keys_};
  asio::io_context control_;
  asio::signal_set signals_{control_};
  asio::steady_timer drain_timer_{control_};
  asio::steady_timer dns_timer_{control_};
  asio::steady_timer ticket_timer_{control_};
  asio::steady_timer stats_timer_{control_};
  admin::stats_history stats_;
  tcp::resolver resolver_{control_};
  runtime::dns_cache dns_;
  std::uint64_t dns_generation_ = 0;
  unsigned workers_count_ = 0;
  std::unique_ptr<upstream::live_registry> registry_;
  std::shared_ptr<const runtime::snapshot> current_;
  std::string file_digest_;  // the file's bytes at the last successful load
  std::shared_ptr<accesslog::sink> log_sink_;
  std::vector<std::unique_ptr<runtime::worker>> workers_;
  std::map<std::string, std::string> bound_;  // listener name -> address it is bound to
  std::unique_ptr<admin::server> admin_;
  std::unique_ptr<file_watch> watch_;
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

int run(const std::string& path) { return controller(path).run(); }

}  // namespace lb::control
