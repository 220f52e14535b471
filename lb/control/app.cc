#include "lb/control/app.h"

#include <unistd.h>

#include <iostream>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>

#include "lb/control/compile.h"
#include "lb/control/controller.h"
#include "lb/control/fd_budget.h"
#include "lb/control/sd_notify.h"
#include "lb/core/log.h"

namespace lb::control {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

tcp::endpoint to_endpoint(const config::address& a) { return {asio::ip::make_address(a.host), a.port}; }

}  // namespace

double controller::unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

int controller::run() {
  if (!handover_.receive()) return 1;
  auto first = ingress_.merge(source_.load());
  if (first.ok() && first.cfg->kubernetes) {
    // Serve the cluster as it is rather than an empty one: wait (bounded)
    // for the first list, then translate again.
    ingress_.wait_synced(std::chrono::seconds(10));
    first = ingress_.merge(source_.load());
  }
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

std::vector<listener::listen_socket> controller::bind(const runtime::listener_snapshot& l) {
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

void controller::wait_signal() {
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

void controller::drain(std::string_view why, bool handover) {
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

void controller::all_exited() {
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
int run(const std::string& path, const launch_info& how, const config::load_options& opts) {
  controller c(path, how, opts);
  const int rc = c.run();
  if (rc != 0) c.report_failed("startup failed: see its log");
  return rc;
}

}  // namespace lb::control
