#pragma once
// Active health checks (STYLE §3 "Health"): the control thread probes every
// endpoint of every pool that has a `health_check`, feeds each result into
// that endpoint's `threshold_state`, and on a flip stores
// `endpoint_live::healthy` (and `ready_since`, so slow start ramps from the
// moment the endpoint came back). Workers only read the flag. Anchors: Pingora
// `pingora-load-balancing/src/health_check.rs` and `background.rs`, HAProxy
// `src/check.c`.
//
// A check never blocks: it is a coroutine on the control io_context, with a
// steady_timer per check that closes the socket at `timeout`.
//   tcp:  the connect completes within `timeout`.
//   http: connect, `GET <path> HTTP/1.1` with `Host: <host or the endpoint's
//         host:port>`, `User-Agent: lb-health-check`, `Connection: close`, and a
//         response head (at most 16 KiB) whose status lies in
//         [expect_status_min, expect_status_max], all within `timeout`.
//   grpc: grpc.health.v1.Health/Check, healthy on SERVING (HTTP/2 pools).
// The checks of a pool with `protocol: h2` or `h2c` speak HTTP/2 (h2_probe.h).
// Each endpoint is checked every `interval` +-10% (seeded RNG, so the checks
// of many endpoints drift apart); its first check comes within the first
// tenth of an interval, not a whole interval later.

#include <cstdint>
#include <map>
#include <memory>
#include <random>

#include <boost/asio/io_context.hpp>

#include "lb/runtime/snapshot.h"

namespace lb::health {

namespace detail {
struct probe;  // one endpoint's schedule and check state, shared with its coroutine
}

// Thread: control, throughout: construct, call and destroy it on the thread
// that runs `control`, and destroy it before `control`.
class checker {
 public:
  // `seed` drives the schedule jitter; tests pass a fixed one.
  explicit checker(boost::asio::io_context& control, std::uint64_t seed = std::random_device{}());
  ~checker();

  checker(const checker&) = delete;
  checker& operator=(const checker&) = delete;

  // A new snapshot (startup or reload). Endpoints that stay (the same
  // `endpoint_live` object) keep their threshold state and their schedule, no
  // gap and no extra check; they take the new address and check settings from
  // their next check on (changed thresholds restart the streak, not the state;
  // a shorter interval pulls the next check in). Removed endpoints stop being
  // checked (a check in flight is abandoned and its result dropped). New ones
  // start counted healthy, until their checks say otherwise (HAProxy starts
  // servers up too). Endpoints of a pool without `health_check` (including a
  // pool whose check was just removed) are not checked and are set healthy.
  // A null snapshot checks nothing. Does nothing after `stop()`.
  void update(std::shared_ptr<const runtime::snapshot> snap);

  // Stops every check (drain/shutdown): pending waits are cancelled, checks
  // in flight are abandoned and leave health untouched. Idempotent; final.
  void stop();

  // The number of endpoints being checked.
  std::size_t checked() const { return probes_.size(); }

 private:
  boost::asio::io_context& io_;
  std::mt19937_64 rng_;  // seeds each probe's own jitter RNG
  bool stopped_ = false;
  // Keyed by the live object: the same endpoint across reloads.
  std::map<const upstream::endpoint_live*, std::shared_ptr<detail::probe>> probes_;
};

}  // namespace lb::health
