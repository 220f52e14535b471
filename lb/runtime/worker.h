#pragma once
// One worker = one thread + one io_context + everything its connections need:
// acceptors, per-pool balancers and idle upstream connections, body buffers.
// Nothing here is touched by another thread except through `post`.

#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "lb/balancer/round_robin.h"
#include "lb/connpool/idle_pool.h"
#include "lb/runtime/session_base.h"
#include "lb/runtime/snapshot.h"

namespace lb::runtime {

// Per-worker state of one pool, rebuilt when a new pool snapshot arrives.
struct worker_pool {
  worker_pool(const pool_snapshot& p)
      : balancer(p.weights),
        idle(p.addrs.size(), p.cfg->keepalive.max_idle, p.cfg->keepalive.idle_timeout) {}

  balancer::round_robin balancer;
  connpool::idle_pool idle;
};

// Fixed-size blocks recycled per worker, so streaming a body or parsing a
// head never allocates once the worker is warm.
template <std::size_t Size>
class block_pool {
 public:
  static constexpr std::size_t block_size = Size;

  std::unique_ptr<char[]> take() {
    if (free_.empty()) return std::make_unique<char[]>(Size);
    auto b = std::move(free_.back());
    free_.pop_back();
    return b;
  }
  void give(std::unique_ptr<char[]> b) {
    if (b && free_.size() < max_free) free_.push_back(std::move(b));
  }

 private:
  static constexpr std::size_t max_free = 256;
  std::vector<std::unique_ptr<char[]>> free_;
};

// A block borrowed from a pool for one scope, returned when the scope ends.
template <class Pool>
class borrowed_block {
 public:
  explicit borrowed_block(Pool& pool) : pool_(pool), block_(pool.take()) {}
  ~borrowed_block() { pool_.give(std::move(block_)); }
  borrowed_block(const borrowed_block&) = delete;
  borrowed_block& operator=(const borrowed_block&) = delete;

  char* get() const { return block_.get(); }
  static constexpr std::size_t size() { return Pool::block_size; }

 private:
  Pool& pool_;
  std::unique_ptr<char[]> block_;
};

// Body relay buffers: one per direction of an exchange in flight.
using buffer_pool = block_pool<64 * 1024>;
// Arenas for the parsed fields of one exchange (request and response heads).
using arena_pool = block_pool<8 * 1024>;

// A listening socket of one listener on one worker, and the limit it shares
// with the same listener's sockets on other workers.
struct worker_listener {
  std::size_t index;  // into snapshot::listeners
  boost::asio::ip::tcp::acceptor acceptor;
  std::atomic<std::uint64_t>* connections;  // shared across workers
};

class worker {
 public:
  using clock = std::chrono::steady_clock;

  worker(unsigned id, std::shared_ptr<const snapshot> snap);
  ~worker();
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  unsigned id() const { return id_; }
  boost::asio::io_context& io() { return io_; }

  // Thread: control, before start(). Takes ownership of a bound, listening socket.
  void add_listener(std::size_t index, boost::asio::ip::tcp::acceptor acceptor,
                    std::atomic<std::uint64_t>* connections);

  // Thread: control. Starts the thread; `on_exit` runs on it when the loop ends.
  void start(std::function<void()> on_exit);
  void join();

  // Thread: any. Stop accepting; idle connections close; busy ones finish.
  void begin_drain();
  // Thread: any. Close every connection now (drain deadline passed).
  void force_close();

  // --- worker thread only ---
  const std::shared_ptr<const snapshot>& current() const { return snap_; }
  worker_pool& pool(std::size_t i) { return pools_[i]; }
  buffer_pool& buffers() { return buffers_; }
  arena_pool& arenas() { return arenas_; }
  bool draining() const { return draining_; }
  void link(session_base* s);
  void unlink(session_base* s);

 private:
  void start_accepting(worker_listener& l);
  void arm_sweep();
  void sweep();

  unsigned id_;
  boost::asio::io_context io_;
  std::shared_ptr<const snapshot> snap_;
  std::vector<worker_pool> pools_;
  std::vector<std::unique_ptr<worker_listener>> listeners_;
  buffer_pool buffers_;
  arena_pool arenas_;
  boost::asio::steady_timer sweep_timer_;
  session_base* sessions_ = nullptr;
  std::size_t session_count_ = 0;
  bool draining_ = false;
  std::thread thread_;
};

}  // namespace lb::runtime
