#pragma once
// Leader election over a coordination.k8s.io/v1 Lease, as client-go's
// leaderelection package does it: every retry period each candidate reads
// the Lease; it creates it when missing, takes it when free or expired (a PUT
// carrying the resourceVersion it read: a 409 Conflict means another
// candidate wrote first, and it reads again), and the holder renews it. A
// holder whose renewals have failed for the renew deadline stops leading
// before any other candidate may take over (renew deadline < lease
// duration), and one that reads another holder stops at once. Runs on the
// writer's thread (lb::kube::writer owns it).

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <random>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "lb/kube/api_session.h"
#include "lb/kube/lease.h"

namespace lb::kube {

struct lease_options {
  std::string namespace_;  // the Lease's namespace (the controller's own)
  std::string name;        // e.g. "lb-ingress-leader"
  std::string identity;    // this replica: its pod name
  // client-go's defaults: 15 s / 10 s / 2 s.
  std::chrono::seconds lease_duration{15};         // what the Lease promises (whole seconds)
  std::chrono::milliseconds renew_deadline{10'000};  // leading ends after renewals fail this long
  std::chrono::milliseconds retry_period{2'000};     // between attempts (candidates: up to 1.2 x more)
  std::chrono::milliseconds request_timeout{5'000};  // one attempt, at most (a holder: its renew deadline left)
};

// Thread: any. Empty when `o` can work; else what is wrong (a missing name,
// namespace or identity; renew deadline not below the lease duration; retry
// period not below the renew deadline).
std::string check(const lease_options& o);

class lease_elector {
 public:
  // Called with true when this replica starts leading and false when it
  // stops (renewals failed, another holder, or stop()); on the writer's
  // thread; must not block for long and must not call writer::stop().
  using callback = std::function<void(bool leading)>;

  // Thread: the writer's (io's). `session` is the elector's own.
  lease_elector(boost::asio::io_context& io, api_session& session, lease_options o, callback on_leading,
                std::uint64_t seed);

  // Thread: the writer's. Attempts until request_stop(); then, when leading,
  // calls on_leading(false) and releases the Lease (bounded by
  // request_timeout) so another candidate takes over at once.
  boost::asio::awaitable<void> run();
  // Thread: the writer's. Ends run() soon (cancels its wait and request).
  void request_stop();

  // Thread: any.
  bool leading() const noexcept { return leading_.load(std::memory_order_acquire); }

 private:
  enum class outcome { held, other, failed };
  boost::asio::awaitable<outcome> attempt(std::chrono::steady_clock::time_point deadline);
  boost::asio::awaitable<void> release();
  void set_leading(bool on);
  std::string lease_path() const;
  std::chrono::milliseconds left(std::chrono::steady_clock::time_point deadline) const;
  void failed(const std::string& what);

  api_session& session_;
  lease_options opts_;
  callback on_leading_;
  boost::asio::steady_timer timer_;
  std::mt19937_64 rng_;
  std::optional<lease_record> held_;  // the record last written while leading
  std::chrono::steady_clock::time_point last_renewed_{};
  std::string last_error_;            // logged once until it changes
  std::atomic<bool> leading_{false};
  bool stopping_ = false;
};

}  // namespace lb::kube
