#pragma once
// The ingress controller's writes to the API server, on one thread of its own
// with its own io_context (like the watcher: the control side, never a
// data-plane worker): Ingress status, Events, and leader election over a
// Lease. The control thread hands work over through a thread-safe queue and
// never waits for the API server.
//
// Queue: first in, first out, one request at a time, on one kept-alive
// connection. A newer status for an Ingress still queued replaces the older
// one (coalescing). A transport error, 408, 429 or 5xx waits a jittered
// back-off (doubling, reset after a success) and tries the same write again,
// a status until it lands or a newer one replaces it, an Event up to
// `event_attempts` times; any other refusal is logged and dropped.
//
// Election (optional, see lease_elector.h) runs beside the queue on its own
// connection, so a queue stuck in back-off never delays a renewal. Which
// replica writes status is the caller's decision: it calls
// set_ingress_status only while on_leading(true) holds. Every replica may
// emit Events.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "lb/kube/backoff.h"
#include "lb/kube/credentials.h"
#include "lb/kube/lease_elector.h"
#include "lb/kube/write_request.h"

namespace lb::kube {

struct writer_options {
  std::chrono::milliseconds request_timeout{10'000};  // connect + TLS + one request
  backoff_policy backoff;                             // between retries of a queued write
  unsigned event_attempts = 5;                        // then the Event is dropped
  std::chrono::seconds event_dedup_window{600};       // the same Event at most once per window
  std::size_t max_queued_events = 1000;               // more are dropped (logged)
  std::string component = "lb-ingress";               // Event source.component
  std::uint64_t seed = 0;                             // jitter; 0: from the clock
};

class writer {
 public:
  // Thread: any. Nothing runs until start().
  writer(credentials creds, writer_options opts);
  // Thread: any but the writer's. Stops (see stop()).
  ~writer();
  writer(const writer&) = delete;
  writer& operator=(const writer&) = delete;

  // Thread: any, before start(), at most once. Take part in leader election
  // over `lease`; `on_leading` runs on the writer's thread (see
  // lease_elector::callback). Without it the writer only writes.
  void elect(lease_options lease, lease_elector::callback on_leading);

  // Thread: any, once. Builds the TLS context and starts the thread. False
  // with `why` (bad CA or client certificate PEM, bad lease options); never
  // throws.
  bool start(std::string& why);

  // Thread: any but the writer's (never from on_leading). Drops what is still
  // queued, ends the request in progress, releases the Lease when held
  // (on_leading(false) first, the release bounded by the lease's
  // request_timeout), and joins the thread: no callback runs after it
  // returns. Idempotent.
  void stop();

  // Thread: any (the writer's too). Queue a merge patch of
  // status.loadBalancer.ingress of Ingress `ns`/`name` to `addresses`
  // (normalized: sorted, IPs first, no duplicates). Not sent when it would
  // change nothing: when `current` (the status the caller last saw on the
  // object, e.g. from the watch) is given, against it; otherwise against
  // what this writer last wrote there. Pass `current` whenever known: an
  // Ingress deleted and created again has no status, whatever was written.
  void set_ingress_status(std::string ns, std::string name, std::vector<lb_address> addresses,
                          std::optional<std::vector<lb_address>> current = std::nullopt);

  // Thread: any (the writer's too). Queue an Event about `obj` (created in
  // obj.namespace_), unless the same (obj.uid, reason, message) was queued
  // within event_dedup_window.
  void emit_event(object_ref obj, event_severity type, std::string reason, std::string message);

  // Thread: any. Whether this replica holds the Lease (false without elect()).
  bool leading() const noexcept { return elector_ && elector_->leading(); }

 private:
  struct status_job {
    std::string ns, name;
    std::vector<lb_address> addresses;
    std::optional<std::vector<lb_address>> current;
  };
  struct event_job {
    object_ref obj;
    event_severity type;
    std::string reason, message;
    unsigned attempts = 0;
  };
  // A queued status is its Ingress's key; the job waits in pending_status_.
  using queued = std::variant<std::string, event_job>;
  using job = std::variant<status_job, event_job>;
  enum class result { done, retry };
  struct tls_state;

  void enqueue(queued q);
  std::optional<job> take();
  void requeue(job j);
  boost::asio::awaitable<void> drain();
  boost::asio::awaitable<result> perform(status_job& j);
  boost::asio::awaitable<result> perform(event_job& j);

  credentials creds_;
  writer_options opts_;
  boost::asio::io_context io_;
  std::unique_ptr<tls_state> tls_;  // TLS context, token, sessions: the writer thread's after start()
  std::unique_ptr<lease_elector> elector_;
  std::optional<lease_options> lease_;
  lease_elector::callback on_leading_;
  boost::asio::steady_timer wake_;   // idle queue: cancelled by enqueue
  boost::asio::steady_timer pause_;  // back-off
  backoff retry_;
  std::unordered_map<std::string, std::vector<lb_address>> written_;  // writer thread only: last status written
  std::thread thread_;
  bool stopping_ = false;  // writer thread only

  std::mutex mu_;  // guards what follows
  std::deque<queued> queue_;
  std::unordered_map<std::string, status_job> pending_status_;
  std::size_t queued_events_ = 0;
  event_dedup dedup_;
  std::atomic<bool> stopped_{false};
};

}  // namespace lb::kube
