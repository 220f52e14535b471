#include "lb/runtime/worker.h"

#include <boost/asio/post.hpp>

#include "lb/core/log.h"
#include "lb/listener/acceptor.h"

namespace lb::runtime {

namespace asio = boost::asio;

namespace {
// Timeouts are checked by one coarse sweep per worker instead of a timer per
// connection: no timer re-arming per request, no per-connection timer memory.
// Timeouts therefore fire up to one tick late.
constexpr auto sweep_interval = std::chrono::milliseconds(100);
}  // namespace

worker::worker(unsigned id, std::shared_ptr<const snapshot> snap)
    // Each socket is used only by this worker's thread: the reactor needs no locks.
    : id_(id), io_(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO), snap_(std::move(snap)), sweep_timer_(io_) {
  pools_.reserve(snap_->pools.size());
  for (const auto& p : snap_->pools) pools_.emplace_back(p);
}

worker::~worker() { join(); }

void worker::add_listener(std::size_t index, asio::ip::tcp::acceptor acceptor,
                          std::atomic<std::uint64_t>* connections) {
  listeners_.push_back(std::make_unique<worker_listener>(
      worker_listener{index, std::move(acceptor), connections}));
}

void worker::start(std::function<void()> on_exit) {
  thread_ = std::thread([this, on_exit = std::move(on_exit)] {
    for (auto& l : listeners_) listener::start_accepting(*this, *l);
    arm_sweep();
    io_.run();
    on_exit();
  });
}

void worker::join() {
  if (thread_.joinable()) thread_.join();
}

void worker::begin_drain() {
  asio::post(io_, [this] {
    if (draining_) return;
    draining_ = true;
    for (auto& l : listeners_) {
      boost::system::error_code ignored;
      l->acceptor.close(ignored);
    }
    for (auto& p : pools_) p.idle.close_all();
    // on_drain may end a session, which unlinks it: step before calling.
    for (session_base* s = sessions_; s;) {
      session_base* next = s->next_;
      s->on_drain();
      s = next;
    }
  });
}

void worker::force_close() {
  asio::post(io_, [this] {
    for (session_base* s = sessions_; s;) {
      session_base* next = s->next_;
      s->on_force_close();
      s = next;
    }
    for (auto& p : pools_) p.idle.close_all();
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
    sweep();
    // A draining worker with no connections left lets its loop run out.
    if (draining_ && session_count_ == 0) return;
    arm_sweep();
  });
}

void worker::sweep() {
  const auto now = clock::now();
  for (session_base* s = sessions_; s;) {
    session_base* next = s->next_;
    if (s->deadline_ <= now) {
      s->deadline_ = clock::time_point::max();
      s->on_timeout();
    } else {
      s->on_sweep();
    }
    s = next;
  }
  for (auto& p : pools_) p.idle.sweep(now);
}

}  // namespace lb::runtime
