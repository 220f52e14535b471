#include "lb/control/app.h"

#include <csignal>
#include <deque>
#include <iostream>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "lb/admin/server.h"
#include "lb/config/loader.h"
#include "lb/core/log.h"
#include "lb/listener/acceptor.h"
#include "lb/runtime/snapshot.h"
#include "lb/runtime/worker.h"

namespace lb::control {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

std::shared_ptr<const runtime::snapshot> load(const std::string& path) {
  auto r = config::load_file(path);
  for (const auto& d : r.errors) std::cerr << d.str() << '\n';
  if (!r.ok()) return nullptr;
  std::vector<std::string> errors;
  auto snap = runtime::build_snapshot(r.cfg, 1, errors);
  for (const auto& e : errors) std::cerr << path << ": " << e << '\n';
  return snap;
}

tcp::endpoint to_endpoint(const config::address& a) {
  return {asio::ip::make_address(a.host), a.port};
}

std::string str(const tcp::endpoint& ep) {
  return ep.address().is_v6() ? "[" + ep.address().to_string() + "]:" + std::to_string(ep.port())
                              : ep.address().to_string() + ":" + std::to_string(ep.port());
}

}  // namespace

int check(const std::string& path) {
  if (!load(path)) return 1;
  std::cout << path << ": configuration is valid\n";
  return 0;
}

int run(const std::string& path) {
  auto snap = load(path);
  if (!snap) return 1;
  const auto& cfg = *snap->cfg;

  const unsigned n = cfg.workers ? cfg.workers : std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::unique_ptr<runtime::worker>> workers;
  std::vector<asio::io_context*> ios;
  for (unsigned i = 0; i < n; ++i) {
    workers.push_back(std::make_unique<runtime::worker>(i, snap));
    ios.push_back(&workers.back()->io());
  }

  // One open-connection count per listener, shared by its workers' sockets.
  std::deque<std::atomic<std::uint64_t>> connections(cfg.listeners.size());
  for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
    const auto& l = cfg.listeners[i];
    try {
      auto acceptors = listener::bind_reuseport(ios, to_endpoint(l.listen));
      const auto bound = acceptors.front().local_endpoint();
      for (unsigned w = 0; w < n; ++w) workers[w]->add_listener(i, std::move(acceptors[w]), &connections[i]);
      log::info("listener bound", {{"listener", l.name}, {"address", str(bound)}, {"workers", std::to_string(n)}});
    } catch (const boost::system::system_error& e) {
      log::error("cannot bind listener", {{"listener", l.name}, {"address", l.listen.str()}, {"error", e.what()}});
      return 1;
    }
  }

  asio::io_context control;
  std::atomic<bool> ready{false};
  admin::server admin(control);
  admin.route(bhttp::verb::get, "/healthz", [] { return admin::reply{bhttp::status::ok, "ok\n"}; });
  admin.route(bhttp::verb::get, "/readyz", [&ready] {
    return ready.load() ? admin::reply{bhttp::status::ok, "ready\n"}
                        : admin::reply{bhttp::status::service_unavailable, "not ready\n"};
  });
  if (cfg.admin.listen) {
    try {
      auto bound = admin.listen(to_endpoint(*cfg.admin.listen));
      log::info("admin listening", {{"address", str(bound)}});
    } catch (const boost::system::system_error& e) {
      log::error("cannot bind admin", {{"address", cfg.admin.listen->str()}, {"error", e.what()}});
      return 1;
    }
  }

  asio::signal_set signals(control, SIGINT, SIGTERM, SIGHUP);
  asio::steady_timer drain_timer(control);
  unsigned running = n;
  bool draining = false;

  auto all_exited = [&] {
    admin.stop();
    signals.cancel();
    drain_timer.cancel();
  };
  for (auto& w : workers) {
    w->start([&control, &running, &all_exited] {
      asio::post(control, [&running, &all_exited] {
        if (--running == 0) all_exited();
      });
    });
  }

  std::function<void()> wait_signal = [&] {
    signals.async_wait([&](boost::system::error_code ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        log::warn("SIGHUP ignored: reload is not supported by this version");
      } else if (!draining) {
        draining = true;
        ready = false;
        log::info("draining", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"},
                               {"drain_timeout_ms", std::to_string(cfg.drain_timeout.count())}});
        for (auto& w : workers) w->begin_drain();
        drain_timer.expires_after(cfg.drain_timeout);
        drain_timer.async_wait([&](boost::system::error_code e) {
          if (e) return;
          log::warn("drain timeout: closing remaining connections");
          for (auto& w : workers) w->force_close();
        });
      }
      wait_signal();
    });
  };
  wait_signal();

  ready = true;
  log::info("ready", {{"workers", std::to_string(n)}, {"config", path}});
  control.run();
  for (auto& w : workers) w->join();
  log::info("exited");
  return 0;
}

}  // namespace lb::control
