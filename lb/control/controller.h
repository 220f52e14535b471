#pragma once
// The process while it runs: owns the workers, the live registry, the admin
// server and every control-thread job. Everything here runs on the control
// thread (the main thread), so none of it needs a lock. Private to
// lb/control; app.h is its entry point.

#include <sys/types.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "lb/accesslog/access_log.h"
#include "lb/admin/server.h"
#include "lb/admin/stats.h"
#include "lb/config/file_source.h"
#include "lb/control/dns_refresh.h"
#include "lb/control/file_watch.h"
#include "lb/control/handover.h"
#include "lb/control/ingress_mode.h"
#include "lb/control/memory_watch.h"
#include "lb/control/upgrade.h"
#include "lb/health/checker.h"
#include "lb/listener/listen_socket.h"
#include "lb/runtime/snapshot.h"
#include "lb/runtime/worker.h"
#include "lb/tls/server_contexts.h"

namespace lb::control {

class controller {
 public:
  controller(std::string path, launch_info how, config::load_options opts = {})
      : path_(std::move(path)), source_(path_, opts), how_(std::move(how)) {
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGCHLD}) signals_.add(sig);
  }

  // Tells the process that started this one (an upgrade) that it failed.
  void report_failed(const std::string& why) { handover_.failed(why); }

  // Thread: main (the control thread). Loads and binds, starts the workers
  // and the admin server, serves the control loop until every worker exited.
  // Returns the process's exit code.
  int run();

 private:
  // --- start-up, signals and drain (app.cc) ----------------------------------

  // Opens one SO_REUSEPORT socket per worker for `l`, first taking those an
  // upgrading lb handed over for the same address; logs and returns none on failure.
  std::vector<listener::listen_socket> bind(const runtime::listener_snapshot& l);

  // SIGHUP reloads, SIGUSR1 reopens the access log, SIGUSR2 upgrades,
  // SIGCHLD reaps an upgrade's process, SIGTERM and SIGINT drain.
  void wait_signal();

  // Stop accepting and let the workers finish (SIGTERM, SIGINT, or handing
  // over to an upgrade's new process); exit when they have.
  void drain(std::string_view why, bool handover);

  // Every worker has exited: stop the control jobs so the loop returns.
  void all_exited();

  // --- reloads: file, certificates, DNS, ticket keys (controller_reload.cc) ---

  struct reload_result {
    bool ok = false;
    std::uint64_t version = 0;
    std::vector<std::string> errors;
  };

  // Validate and compile the file, bind what is new, then switch every
  // worker. Any failure leaves the running config untouched.
  reload_result reload(std::string_view trigger);

  // Counts a failed load for /metrics and the status page. `digest` is the
  // source's at this load: when it differs from the running config's, the
  // running config is older than its file from now (or the earlier failure) on.
  void reload_failed(std::string_view trigger, const std::vector<std::string>& errors, const std::string& digest);

  // Watches the folders of every certificate, key, OCSP response, client CA
  // and CRL the running config names (made anew when that set of folders changes).
  void watch_tls_files();

  // Rebuilds the snapshot from the running config when a certificate, key or
  // OCSP file changed: the context cache rebuilds only the contexts whose
  // files' bytes changed. A broken file refuses the whole swap and the
  // running certificates keep serving; connections keep their sessions either
  // way (each holds its own context).
  void reload_certificates(std::string_view trigger);

  // dns_refresh found new addresses: publish them in a new snapshot.
  void dns_changed();

  // Session-ticket keys lb makes itself get a new encrypting key every
  // ticket_key_rotation; the previous one still decrypts for one period.
  void schedule_ticket_rotation();

  // Seconds since the epoch, for the status page and /metrics.
  static double unix_now();

  // --- the admin endpoints and their stats (controller_admin.cc) -------------

  // /healthz, /readyz, /metrics, /config, /pools, /stats, the status page,
  // POST /reload and POST /upgrade.
  void add_admin_routes();

  // Samples the counters behind /stats and the status page every period.
  void schedule_stats();

  // --- binary upgrade (controller_upgrade.cc) --------------------------------

  // Duplicates of a listener's sockets, kept to hand over in an upgrade.
  static owned_fds hold(const std::vector<listener::listen_socket>& sockets);

  // Binary upgrade (SIGUSR2, POST /upgrade): starts the new process with
  // the listening sockets; drains once it serves. Returns its pid, or 0 with
  // `refused` set (and logged) when none was started.
  pid_t start_upgrade(std::string_view trigger, std::string& refused);

  // The new process serves (this one drains) or failed (this one goes on).
  void upgrade_done(const upgrade::outcome& o);

  // How long an upgrade's new process may take to serve before it counts as failed.
  static constexpr auto upgrade_timeout = std::chrono::seconds(30);

  std::string path_;
  config::file_source source_;
  launch_info how_;
  // Before anything holding a snapshot: TLS contexts point at the keys.
  tls::ticket_keys ticket_keys_;
  tls::context_cache tls_cache_{ticket_keys_};
  boost::asio::io_context control_;
  boost::asio::signal_set signals_{control_};
  boost::asio::steady_timer drain_timer_{control_};
  boost::asio::steady_timer ticket_timer_{control_};
  boost::asio::steady_timer stats_timer_{control_};
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
  std::vector<std::string> tls_dirs_;   // the folders tls_watch_ watches
  std::vector<std::string> tls_files_;  // and the files in them it counts events for
  std::unique_ptr<health::checker> health_;
  // Ingress controller mode: merges the cluster into every load of the file.
  ingress_mode ingress_{control_, [this] { reload("kubernetes"); }};
  admin::control_facts facts_;
  unsigned running_ = 0;
  std::uint64_t fd_limit_ = 0;  // RLIMIT_NOFILE once raised at start
  bool ready_ = false;
  bool draining_ = false;
};

}  // namespace lb::control
