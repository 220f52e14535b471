#pragma once
// The Kubernetes watch client: for each resource, LIST (paged) then WATCH
// from the list's resourceVersion, on one thread of its own with its own
// io_context (the control side: never a data-plane worker, and nothing here
// is touched by one). One HTTPS connection per resource stream, as client-go
// does over HTTP/1.1.
//
// Per stream: bookmarks advance the resourceVersion without an event; a 410
// Gone (HTTP status or ERROR event) re-lists; a 401 re-reads the token file;
// any other error or disconnect waits a jittered back-off (doubling, reset
// after a success) and resumes the watch from the last resourceVersion. A
// watch the server ends (timeoutSeconds) resumes at once. The consumer gets
// the whole set after every (re)list, so deletions missed in a gap are seen.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "lb/kube/backoff.h"
#include "lb/kube/credentials.h"
#include "lb/kube/resource.h"
#include "lb/kube/watch_event.h"

namespace lb::kube {

// What the watcher delivers. Every call runs on the watcher's thread, one at
// a time; a call must not block for long (it holds up every stream) and must
// not call watcher::stop() (that joins this thread).
class watch_sink {
 public:
  virtual ~watch_sink() = default;
  // After every complete (re)list of `r`: `items` is the whole current set
  // (replace what you hold for `r`); `rv` is the list's resourceVersion.
  virtual void on_list(const resource& r, std::vector<nlohmann::json> items, const std::string& rv) = 0;
  // One change: `type` is added, modified or deleted; `object` is the object
  // (for deleted: its last state).
  virtual void on_event(const resource& r, event_type type, nlohmann::json object) = 0;
  // A bookmark moved `r`'s resourceVersion to `rv` (nothing changed).
  virtual void on_bookmark(const resource& r, const std::string& rv) {
    (void)r;
    (void)rv;
  }
  // Once, when every resource has completed its first list.
  virtual void on_synced() {}
};

struct watch_options {
  std::string namespace_;  // empty: all namespaces (cluster-scoped resources ignore it)
  unsigned list_limit = 500;
  // Sent as timeoutSeconds, each watch scaled by a random factor in [1, 2)
  // (client-go's spread) so the streams do not all reconnect together.
  std::chrono::seconds watch_timeout{300};
  std::chrono::seconds request_timeout{30};  // connect + TLS + a list page or a watch head
  std::chrono::seconds idle_timeout{0};      // no byte for this long: reconnect (0: 2 x watch_timeout + 30 s)
  backoff_policy backoff;
  std::size_t max_line_bytes = 16 << 20;     // one watch event
  std::size_t max_list_page_bytes = 256 << 20;
  std::uint64_t seed = 0;                    // jitter; 0: from the clock
};

class watcher {
 public:
  // Thread: any. Nothing runs until start(). `sink` outlives the watcher.
  watcher(credentials creds, std::vector<resource> resources, watch_options opts, watch_sink& sink);
  // Thread: any but the watcher's. Stops (see stop()).
  ~watcher();
  watcher(const watcher&) = delete;
  watcher& operator=(const watcher&) = delete;

  // Thread: any, once. Builds the TLS context and starts the thread. False
  // with `why` (bad CA or client certificate PEM, no resources); never throws.
  bool start(std::string& why);

  // Thread: any but the watcher's (never from a sink callback). Closes every
  // connection, cancels every wait, and joins the thread: no callback runs
  // after it returns. Idempotent.
  void stop();

  // Thread: any. Whether every resource has completed its first list.
  bool synced() const noexcept { return synced_.load(std::memory_order_acquire); }

 private:
  struct stream;
  struct shared_state;
  boost::asio::awaitable<void> run(stream& s);
  boost::asio::awaitable<bool> list(stream& s);
  boost::asio::awaitable<int> watch(stream& s);
  void deliver_line(stream& s, std::string_view line, int& outcome);
  void listed();

  credentials creds_;
  watch_options opts_;
  watch_sink& sink_;
  boost::asio::io_context io_;
  std::unique_ptr<shared_state> shared_;  // TLS context, token, RNG: the watcher thread's after start()
  std::vector<std::unique_ptr<stream>> streams_;
  std::thread thread_;
  std::atomic<bool> synced_{false};
  bool stopping_ = false;  // watcher thread only
  std::size_t listed_ = 0;  // streams that completed a first list; watcher thread only
};

}  // namespace lb::kube
