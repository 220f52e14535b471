#include "lb/runtime/worker.h"

#include <pthread.h>
#include <unistd.h>
#include <csignal>
#include <new>
#include <unordered_map>
#include <utility>

#include <boost/asio/post.hpp>

#include "lb/core/log.h"
#include "lb/listener/acceptor.h"
#include "lb/runtime/memory.h"

namespace lb::runtime {

namespace asio = boost::asio;

namespace {
// Timeouts are checked by one coarse sweep per worker instead of a timer per
// connection: no timer re-arming per request, no per-connection timer memory.
// Timeouts therefore fire up to one tick late.
constexpr auto sweep_interval = std::chrono::milliseconds(100);
// What a pool's connections depend on beyond the endpoint: empty for plain TCP.
std::string_view tls_identity(const pool_snapshot& p) { return p.tls ? std::string_view(p.tls->identity()) : ""; }

}  // namespace

worker::worker(unsigned id, std::shared_ptr<const snapshot> snap, std::shared_ptr<accesslog::sink> log)
    // Each socket is used only by this worker's thread: the reactor needs no locks.
    : id_(id), io_(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO), current_(derive(std::move(snap))), sweep_timer_(io_), parking_(*this) {
  if (log) access_log_ = std::make_unique<accesslog::writer>(std::move(log));
}

std::shared_ptr<worker_snapshot> worker::derive(std::shared_ptr<const snapshot> snap) {
  auto ws = std::make_shared<worker_snapshot>();
  ws->pools.reserve(snap->pools.size());
  for (const auto& p : snap->pools) ws->pools.push_back(std::make_shared<worker_pool>(p, id_));
  ws->snap = std::move(snap);
  return ws;
}

void worker::apply(std::shared_ptr<const snapshot> snap, std::vector<new_listener> added) {
  asio::post(io_, [this, snap = std::move(snap), added = std::move(added)]() mutable {
    const auto& prev = *current_;
    auto next = std::make_shared<worker_snapshot>();
    next->snap = snap;
    next->pools.reserve(snap->pools.size());
    // Pools the new snapshot shares with the old one (republish_pools kept
    // them) keep their worker state as it is; the others start afresh.
    std::unordered_map<const pool_snapshot*, std::size_t> old_index;
    for (std::size_t op = 0; op < prev.snap->pools.size(); ++op) old_index.emplace(prev.snap->pools.share(op).get(), op);
    std::vector<bool> kept(prev.pools.size()), fresh(snap->pools.size());
    for (std::size_t np = 0; np < snap->pools.size(); ++np) {
      const auto it = old_index.find(snap->pools.share(np).get());
      if (it != old_index.end()) {
        next->pools.push_back(prev.pools.share(it->second));
        kept[it->second] = true;
      } else {
        next->pools.push_back(std::make_shared<worker_pool>(snap->pools[np], id_));
        fresh[np] = true;
      }
    }
    // Idle connections to an endpoint that stays (same live object) move
    // over, and with them its TLS session, when the TLS identity (settings
    // and file contents; none for plain TCP) is the same: a plain connection
    // never serves a TLS pool, nor one verified against another CA.
    // Endpoints are found by their live object, so the move is linear in
    // the endpoints of the pools that changed.
    std::unordered_map<const upstream::endpoint_live*, std::pair<std::size_t, std::size_t>> where;
    for (std::size_t op = 0; op < prev.snap->pools.size(); ++op) {
      if (kept[op]) continue;
      const auto& o = prev.snap->pools[op];
      for (std::size_t oe = 0; oe < o.live.size(); ++oe) where.emplace(o.live[oe].get(), std::pair{op, oe});
    }
    for (std::size_t np = 0; np < snap->pools.size() && !where.empty(); ++np) {
      if (!fresh[np]) continue;
      const auto& n = snap->pools[np];
      for (std::size_t ne = 0; ne < n.live.size(); ++ne) {
        const auto it = where.find(n.live[ne].get());
        if (it == where.end()) continue;
        const auto [op, oe] = it->second;
        const auto& o = prev.snap->pools[op];
        if (n.addrs[ne] != o.addrs[oe] || o.cfg->protocol != n.cfg->protocol || tls_identity(o) != tls_identity(n))
          continue;
        while (auto c = prev.pools[op].idle.acquire(oe)) {
          c->endpoint = ne;
          next->pools[np].idle.release(std::move(c));
        }
        prev.pools[op].h2.move_to(oe, next->pools[np].h2, ne);
        if (n.tls) next->pools[np].sessions[ne]->copy_from(*prev.pools[op].sessions[oe]);
      }
    }
    for (std::size_t op = 0; op < prev.pools.size(); ++op)
      if (!kept[op]) prev.pools[op].close_idle();
    current_ = std::move(next);

    // Listeners the new snapshot no longer has stop accepting and drain;
    // re-bound ones (same name, new address) keep their connections.
    for (auto it = listeners_.begin(); it != listeners_.end();) {
      bool configured = false;
      for (const auto& l : snap->listeners) configured |= l.live == (*it)->live;
      bool rebound = false;
      for (const auto& a : added) rebound |= a.live == (*it)->live;
      if (configured && !rebound) {
        ++it;
        continue;
      }
      boost::system::error_code ignored;
      (*it)->acceptor.close(ignored);
      if (!configured) drain_listener((*it)->live.get());
      it = listeners_.erase(it);
    }
    for (auto& a : added) {
      listeners_.push_back(
          std::make_shared<worker_listener>(worker_listener{std::move(a.live), std::move(a.socket).attach(io_)}));
      if (!draining_) listener::start_accepting(*this, listeners_.back());
    }
  });
}

template <class F>
void worker::for_each_session(F f) {
  // A hook may end the connection, which unlinks it: step before calling.
  for (session_base* s = sessions_; s;) {
    session_base* next = s->next_;
    f(*s);
    s = next;
  }
}

worker::~worker() {
  join();
  // Parked connections live only in the list; sessions close their sockets
  // here and end with the io_context's handlers.
  for_each_session([](session_base& s) { s.on_force_close(); });
}

void worker::drain_listener(const upstream::listener_live* live) {
  for_each_session([live](session_base& s) {
    if (s.listener_live() == live) s.on_drain();
  });
}

void worker::add_listener(new_listener l) {
  // Before start(): the thread's creation orders this registration before
  // the loop's first use of the reactor.
  listeners_.push_back(
      std::make_shared<worker_listener>(worker_listener{std::move(l.live), std::move(l.socket).attach(io_)}));
}

void worker::start(std::function<void()> on_exit) {
  thread_ = std::thread([this, on_exit = std::move(on_exit)] {
    // splice() into a socket whose peer went away raises SIGPIPE (it has no
    // MSG_NOSIGNAL, unlike Asio's sendmsg): blocked on this thread, it stays
    // pending and the call fails with EPIPE instead of killing the process.
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);
    for (auto& l : listeners_) listener::start_accepting(*this, l);
    parking_.start();
    arm_sweep();
    run_contained();
    on_exit();
  });
}

void worker::run_contained() {
  // The last line of containment: a handler that let bad_alloc out has lost
  // only its own connection (its captures unwound with it); the loop goes on
  // with every other one. Asio allows run() again after a handler threw.
  for (;;) {
    try {
      io_.run();
      return;
    } catch (const std::bad_alloc&) {
      memory::note_failure(memory::plane::worker);
    }
  }
}

void worker::join() {
  if (thread_.joinable()) thread_.join();
}

void worker::begin_drain(bool handover) {
  asio::post(io_, [this, handover] {
    if (draining_) return;
    draining_ = true;
    handover_ = handover;
    for (auto& l : listeners_) {
      // A new process may hold the same socket (an upgrade's handover): take
      // it out of this reactor's epoll set explicitly (release() does), as
      // close() alone leaves the registration while another descriptor of
      // that socket lives.
      boost::system::error_code ec;
      const int fd = l->acceptor.release(ec);
      if (!ec) ::close(fd);
      else l->acceptor.close(ec);
    }
    for (auto& p : current_->pools) p.close_idle();
    for_each_session([](session_base& s) { s.on_drain(); });
  });
}

void worker::force_close() {
  asio::post(io_, [this] {
    for_each_session([](session_base& s) { s.on_force_close(); });
    for (auto& p : current_->pools) p.close_idle();
  });
}

void worker::link(session_base* s) {
  s->next_ = sessions_;
  s->prev_ = nullptr;
  if (sessions_) sessions_->prev_ = s;
  sessions_ = s;
  ++session_count_;
}

void worker::unlink(session_base* s) {
  if (s->prev_) s->prev_->next_ = s->next_;
  else sessions_ = s->next_;
  if (s->next_) s->next_->prev_ = s->prev_;
  s->prev_ = s->next_ = nullptr;
  --session_count_;
}

void worker::arm_sweep() {
  sweep_timer_.expires_after(sweep_interval);
  sweep_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    // Timeouts rest on the sweep: out of memory it is skipped, never lost.
    try {
      sweep();
    } catch (const std::bad_alloc&) {
      memory::note_failure(memory::plane::worker);
    }
    // A draining worker with no connections left lets its loop run out.
    if (draining_ && session_count_ == 0) {
      parking_.stop();
      return;
    }
    arm_sweep();
  });
}

void worker::sweep() {
  // `limits.memory_high` as the control thread last sampled it: going over,
  // pending accepts are cancelled (their listeners then poll until lb is
  // back under) and idle connections close, client and upstream.
  if (const bool over = memory::overloaded(); over != memory_paused_) {
    memory_paused_ = over;
    if (over) {
      for (auto& l : listeners_) {
        boost::system::error_code ignored;
        l->acceptor.cancel(ignored);
      }
      for (auto& p : current_->pools) p.close_idle();
      for_each_session([](session_base& s) { s.on_memory_pressure(); });
    }
  }
  const auto now = clock::now();
  for_each_session([now](session_base& s) {
    if (s.deadline_ <= now) {
      s.deadline_ = clock::time_point::max();
      s.on_timeout();
    } else {
      s.on_sweep();
    }
  });
  for (auto& p : current_->pools) p.sweep(now);
  buffers_.trim();
  arenas_.trim();
  frames_.trim();
  // Log lines leave the worker at least every sweep, never per request.
  if (access_log_) access_log_->flush();
}

}  // namespace lb::runtime
