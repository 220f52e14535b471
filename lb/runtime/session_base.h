#pragma once
// What a worker knows of a client connection it owns, busy (a session) or
// parked: an intrusive list hook (no allocation to register), a deadline
// checked by the worker's coarse timer sweep (no per-connection timer, no
// re-arming per request), the listener's count of it, and three hooks.

#include <chrono>

#include "lb/io/deadline.h"
#include "lb/runtime/connection_ticket.h"

namespace lb::runtime {

class worker;

using io_deadline = io::deadline;

class session_base {
 public:
  using clock = std::chrono::steady_clock;

  explicit session_base(connection_ticket ticket) : ticket_(std::move(ticket)) {}
  virtual ~session_base() = default;
  session_base(const session_base&) = delete;
  session_base& operator=(const session_base&) = delete;

  // Thread: owning worker. Called once the deadline has passed; the session
  // cancels its pending I/O and decides what the timeout means in its phase.
  virtual void on_timeout() = 0;
  // Thread: owning worker. Graceful drain began (lb stops, or a reload
  // removed the listener): close if idle, else finish the exchange in flight
  // and close.
  virtual void on_drain() = 0;
  // Thread: owning worker. Drain deadline passed: close now.
  virtual void on_force_close() = 0;
  // Thread: owning worker. Periodic: release memory held while idle.
  virtual void on_sweep() {}
  // Thread: owning worker. lb went over `limits.memory_high`: close if idle
  // (a keep-alive connection between requests); busy ones carry on.
  virtual void on_memory_pressure() {}

  clock::time_point deadline() const { return deadline_; }
  // The listener that accepted the connection (null once the ticket moved on).
  const upstream::listener_live* listener_live() const { return ticket_.listener().get(); }

  // Thread: owning worker, like everything below.
  // Starts `d` over for an operation about to begin. The connection's own
  // deadline (what the worker's sweep checks) only moves earlier here: a
  // later one is taken up when the sweep finds nothing due (expire()).
  void arm(io_deadline& d, clock::duration within) { arm_at(d, clock::now() + within); }
  void arm_at(io_deadline& d, clock::time_point at) {
    d.at = at;
    d.fired = false;
    if (at < deadline_) deadline_ = at;
  }
  static void disarm(io_deadline& d) { d.at = clock::time_point::max(); }

  // For on_timeout(): marks each of `ds` that is due as fired and returns
  // whether any was; the connection's deadline becomes the earliest left.
  template <class... D>
  bool expire(D&... ds) {
    const auto now = clock::now();
    bool any = false;
    deadline_ = clock::time_point::max();
    for (io_deadline* d : {&ds...}) {
      if (d->at <= now) {
        d->fired = true;
        d->at = clock::time_point::max();
        any = true;
      } else if (d->at < deadline_) {
        deadline_ = d->at;
      }
    }
    return any;
  }

 protected:
  void set_deadline(clock::duration d) { deadline_ = clock::now() + d; }
  void set_deadline_at(clock::time_point t) { deadline_ = t; }
  void clear_deadline() { deadline_ = clock::time_point::max(); }

  connection_ticket ticket_;

 private:
  friend class worker;
  session_base* prev_ = nullptr;
  session_base* next_ = nullptr;
  clock::time_point deadline_ = clock::time_point::max();
};

}  // namespace lb::runtime
