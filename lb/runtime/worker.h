#pragma once
// One worker = one thread + one io_context + everything its connections need:
// acceptors, per-pool balancers and idle upstream connections, body buffers.
// Nothing here is touched by another thread except through `post`.

#include <atomic>
#include <functional>
#include <algorithm>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "lb/accesslog/access_log.h"
#include "lb/balancer/balancer.h"
#include "lb/core/fast_rng.h"
#include "lb/listener/listen_socket.h"
#include "lb/runtime/parking.h"
#include "lb/runtime/session_base.h"
#include "lb/runtime/snapshot.h"
#include "lb/upstream/worker_pool.h"

namespace lb::runtime {


using upstream::worker_pool;

// Everything a worker derives from one config snapshot. Requests take the
// newest; one in flight keeps the one it started with alive. A pool whose
// snapshot a reload kept (same pointer) keeps its worker state too: the same
// worker_pool is in both, balancer cursors and idle connections untouched.
struct worker_snapshot {
  std::shared_ptr<const snapshot> snap;
  shared_list<worker_pool> pools;  // parallel to snap->pools
};

// Fixed-size blocks recycled per worker, so streaming a body or parsing a
// head never allocates once the worker is warm. The pool keeps as many free
// blocks as were in use at once during the last sweep interval (at least
// min_keep, at most max_keep): under load every block comes back for the
// next request instead of going through the allocator (1,000 h2 streams in
// flight took and freed a frame and an arena block per request), and two
// quiet sweeps shrink it back.
template <std::size_t Size>
class block_pool {
 public:
  static constexpr std::size_t block_size = Size;

  std::unique_ptr<char[]> take() {
    // Not value-initialised: zeroing 64 KiB that is about to be overwritten
    // cost 16k instructions per request once more streams were in flight
    // than the pool keeps (h2, 1,000 streams).
    std::unique_ptr<char[]> b;
    if (free_.empty()) {
      b = std::make_unique_for_overwrite<char[]>(Size);
    } else {
      b = std::move(free_.back());
      free_.pop_back();
    }
    if (++in_use_ > peak_) peak_ = in_use_;
    return b;
  }
  void give(std::unique_ptr<char[]> b) {
    if (!b) return;
    --in_use_;
    if (free_.size() < keep_) free_.push_back(std::move(b));
  }
  // Thread: owning worker, once per sweep. The last interval's peak sets
  // what is kept for the next.
  void trim() {
    keep_ = std::clamp(peak_, min_keep, max_keep);
    if (free_.size() > keep_) {
      free_.resize(keep_);
      if (free_.capacity() > 2 * keep_) free_.shrink_to_fit();
    }
    peak_ = in_use_;
  }
  std::size_t free_blocks() const { return free_.size(); }

 private:
  static constexpr std::size_t min_keep = 256;
  static constexpr std::size_t max_keep = 4096;
  std::vector<std::unique_ptr<char[]>> free_;
  std::size_t in_use_ = 0;
  std::size_t peak_ = 0;
  std::size_t keep_ = min_keep;
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
// One HTTP/2 DATA frame of a response body per stream in flight: a quarter
// of a relay buffer, and small enough for the allocator's thread cache when
// more streams are in flight than the pool keeps.
using frame_pool = block_pool<16 * 1024>;

// A listening socket of one listener on one worker. The listener's live
// object (stable across reloads by name) carries its shared connection count.
struct worker_listener {
  std::shared_ptr<upstream::listener_live> live;
  boost::asio::ip::tcp::acceptor acceptor;
  boost::asio::ip::tcp::endpoint peer{};  // filled by each accept (no getpeername)
  // accept() failures since the last one logged: one line per interval.
  std::chrono::steady_clock::time_point accept_error_logged{};
  std::uint64_t accept_errors_unlogged = 0;
};

// A listener's socket bound by the control thread for one worker, which
// registers it with its own io_context (see listener::listen_socket).
struct new_listener {
  std::shared_ptr<upstream::listener_live> live;
  listener::listen_socket socket;
};

class worker {
 public:
  using clock = std::chrono::steady_clock;

  worker(unsigned id, std::shared_ptr<const snapshot> snap, std::shared_ptr<accesslog::sink> log);
  ~worker();
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  unsigned id() const { return id_; }
  boost::asio::io_context& io() { return io_; }

  // Thread: control, before start(). Takes ownership of a bound, listening socket.
  void add_listener(new_listener l);

  // Thread: any. Switches to `snap` (a reload): new requests use it; idle
  // upstream connections to endpoints that stay move over; `added` acceptors
  // start accepting; listeners no longer in `snap` stop accepting and their
  // connections drain (idle ones close, busy ones finish their exchange on
  // the snapshot they have, then close).
  void apply(std::shared_ptr<const snapshot> snap, std::vector<new_listener> added);

  // Thread: control. Starts the thread; `on_exit` runs on it when the loop ends.
  void start(std::function<void()> on_exit);
  void join();

  // Thread: any. Stop accepting; busy connections finish their exchange. On
  // exit (`handover` false) idle ones close, but a request that already
  // arrived is answered first. On a binary upgrade's handover (another
  // process now accepts), idle ones stay open until their next request,
  // answered with `Connection: close`, or the client's close, idle_timeout
  // or drain_timeout: closing an idle connection always races a request.
  void begin_drain(bool handover = false);
  // Thread: any. Close every connection now (drain deadline passed).
  void force_close();

  // --- worker thread only ---
  const std::shared_ptr<worker_snapshot>& current() const { return current_; }
  buffer_pool& buffers() { return buffers_; }
  arena_pool& arenas() { return arenas_; }
  frame_pool& frames() { return frames_; }
  // Request and trace IDs: seeded from the OS once, then no syscall per draw.
  fast_rng& rng() { return rng_; }
  parking_lot& parking() { return parking_; }
  bool draining() const { return draining_; }
  // Draining for a binary upgrade's handover (begin_drain(true)).
  bool handing_over() const { return handover_; }
  // Over `limits.memory_high` (as of the last sweep): accepts wait.
  bool accepts_paused() const { return memory_paused_; }
  // The worker's access log writer; nullptr when `access_log: { path: off }`.
  accesslog::writer* access_log() const { return access_log_.get(); }
  void link(session_base* s);
  void unlink(session_base* s);

 private:
  std::shared_ptr<worker_snapshot> derive(std::shared_ptr<const snapshot> snap);
  // io_.run(), resumed after a handler that ran out of memory.
  void run_contained();
  void arm_sweep();
  void sweep();
  // Calls f(session_base&) for every connection, which it may end.
  template <class F>
  void for_each_session(F f);
  // Drains the connections of a listener a reload removed.
  void drain_listener(const upstream::listener_live* live);

  unsigned id_;
  boost::asio::io_context io_;
  std::shared_ptr<worker_snapshot> current_;
  // Shared with the accept handlers in flight: a completion already queued
  // when a reload drops the listener must still find it (and see it closed).
  std::vector<std::shared_ptr<worker_listener>> listeners_;
  buffer_pool buffers_;
  arena_pool arenas_;
  frame_pool frames_;
  fast_rng rng_;
  boost::asio::steady_timer sweep_timer_;
  parking_lot parking_;
  session_base* sessions_ = nullptr;
  std::size_t session_count_ = 0;
  bool draining_ = false;
  bool handover_ = false;
  bool memory_paused_ = false;
  std::unique_ptr<accesslog::writer> access_log_;
  std::thread thread_;
};

}  // namespace lb::runtime
