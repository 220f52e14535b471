#pragma once
// What a worker knows of a connection it owns: an intrusive list hook (no
// allocation to register), a deadline checked by the worker's coarse timer
// sweep (no per-connection timer, no re-arming per request), and two hooks.

#include <chrono>

namespace lb::runtime {

class worker;

class session_base {
 public:
  using clock = std::chrono::steady_clock;

  virtual ~session_base() = default;

  // Thread: owning worker. Called once the deadline has passed; the session
  // cancels its pending I/O and decides what the timeout means in its phase.
  virtual void on_timeout() = 0;
  // Thread: owning worker. Graceful drain began: close if idle, else finish
  // the exchange in flight and close.
  virtual void on_drain() = 0;
  // Thread: owning worker. Drain deadline passed: close now.
  virtual void on_force_close() = 0;
  // Thread: owning worker. Periodic: release memory held while idle.
  virtual void on_sweep() {}

  clock::time_point deadline() const { return deadline_; }

 protected:
  void set_deadline(clock::duration d) { deadline_ = clock::now() + d; }
  void clear_deadline() { deadline_ = clock::time_point::max(); }

 private:
  friend class worker;
  session_base* prev_ = nullptr;
  session_base* next_ = nullptr;
  clock::time_point deadline_ = clock::time_point::max();
};

}  // namespace lb::runtime
