#include "lb/kube/lease_elector.h"

#include <algorithm>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/verb.hpp>

#include "lb/core/log.h"
#include "lb/kube/watch_event.h"

namespace lb::kube {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using std::chrono::milliseconds;
using std::chrono::steady_clock;
using std::chrono::system_clock;

namespace {
constexpr const char* json_type = "application/json";
// Reads after a 409 within one attempt: candidates that keep colliding wait
// for the next retry period instead.
constexpr int max_rounds = 3;
}  // namespace

std::string check(const lease_options& o) {
  if (o.namespace_.empty() || o.name.empty()) return "the lease needs a namespace and a name";
  if (o.identity.empty()) return "the lease needs this replica's identity";
  if (o.lease_duration < std::chrono::seconds(1)) return "the lease duration is under 1 s";
  if (o.renew_deadline >= o.lease_duration) return "the renew deadline is not below the lease duration";
  if (o.retry_period <= milliseconds(0) || o.retry_period >= o.renew_deadline)
    return "the retry period is not between 0 and the renew deadline";
  if (o.request_timeout <= milliseconds(0)) return "the request timeout is not positive";
  return {};
}

lease_elector::lease_elector(asio::io_context& io, api_session& session, lease_options o, callback on_leading,
                             std::uint64_t seed)
    : session_(session), opts_(std::move(o)), on_leading_(std::move(on_leading)), timer_(io), rng_(seed) {}

std::string lease_elector::lease_path() const {
  return "/apis/coordination.k8s.io/v1/namespaces/" + opts_.namespace_ + "/leases/" + opts_.name;
}

milliseconds lease_elector::left(steady_clock::time_point deadline) const {
  return std::max(milliseconds(1), std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now()));
}

void lease_elector::failed(const std::string& what) {
  if (what == last_error_) return;
  last_error_ = what;
  log::warn("kube lease attempt failed", {{"lease", opts_.namespace_ + "/" + opts_.name}, {"error", what}});
}

void lease_elector::set_leading(bool on) {
  if (leading() == on) return;
  leading_.store(on, std::memory_order_release);
  log::info(on ? "kube lease acquired: leading" : "kube lease lost: not leading",
            {{"lease", opts_.namespace_ + "/" + opts_.name}, {"identity", opts_.identity}});
  if (!on_leading_) return;
  try {
    on_leading_(on);
  } catch (const std::exception& e) {
    log::error("kube on_leading threw", {{"error", e.what()}});
  }
}

void lease_elector::request_stop() {
  stopping_ = true;
  timer_.cancel();
}

asio::awaitable<void> lease_elector::run() {
  while (!stopping_) {
    const auto start = steady_clock::now();
    // A holder's attempt ends with its renew deadline, so a hung request
    // cannot keep it leading past the point where others may take over.
    const auto deadline =
        leading() ? std::min(last_renewed_ + opts_.renew_deadline, start + opts_.request_timeout)
                  : start + opts_.request_timeout;
    const outcome o = co_await attempt(deadline);
    if (stopping_) break;
    if (o == outcome::held) {
      // From the attempt's start: the Lease's renewTime is no earlier.
      last_renewed_ = start;
      last_error_.clear();
      set_leading(true);
    } else if (leading() && (o == outcome::other || steady_clock::now() - last_renewed_ >= opts_.renew_deadline)) {
      held_.reset();
      set_leading(false);
    }
    // Candidates spread their attempts (client-go's jitter factor 1.2); a
    // holder renews on time.
    auto wait = opts_.retry_period;
    if (!leading()) {
      std::uniform_real_distribution<double> jitter(1.0, 1.2);
      wait = milliseconds(static_cast<std::int64_t>(static_cast<double>(wait.count()) * jitter(rng_)));
    }
    timer_.expires_after(wait);
    boost::system::error_code ec;
    co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  if (leading()) {
    set_leading(false);
    co_await release();
  }
}

asio::awaitable<lease_elector::outcome> lease_elector::attempt(steady_clock::time_point deadline) {
  for (int round = 0; round < max_rounds && !stopping_; ++round) {
    api_session::response res;
    std::string why;
    auto ec = co_await session_.call(http::verb::get, lease_path(), {}, {}, left(deadline), res, why);
    if (stopping_) co_return outcome::failed;
    if (ec) {
      failed(why);
      co_return outcome::failed;
    }
    std::optional<lease_record> current;
    if (res.result_int() == 200) {
      const auto obj = nlohmann::json::parse(res.body(), nullptr, false);
      lease_record r;
      if (!parse_lease(obj, r, why)) {
        failed("lease unreadable: " + why);
        co_return outcome::failed;
      }
      const auto now = system_clock::now();
      if (r.holder != opts_.identity && !lease_expired(r, now)) co_return outcome::other;
      current = std::move(r);
    } else if (res.result_int() != 404) {
      failed("GET lease: " + std::to_string(res.result_int()) + " " + status_message(res.body()));
      co_return outcome::failed;
    }
    const bool create = !current;
    const auto next = take_lease(current, opts_.identity, opts_.lease_duration, system_clock::now());
    const auto target = create ? "/apis/coordination.k8s.io/v1/namespaces/" + opts_.namespace_ + "/leases"
                               : lease_path();
    ec = co_await session_.call(create ? http::verb::post : http::verb::put, target, json_type,
                                lease_object(opts_.namespace_, opts_.name, next).dump(), left(deadline), res, why);
    if (stopping_) co_return outcome::failed;
    if (ec) {
      failed(why);
      co_return outcome::failed;
    }
    const unsigned status = res.result_int();
    if (status == 409) continue;  // another writer between our read and write: read again
    if (status != 200 && status != 201) {
      failed(std::string(create ? "POST" : "PUT") + " lease: " + std::to_string(status) + " " +
             status_message(res.body()));
      co_return outcome::failed;
    }
    lease_record written;
    if (!parse_lease(nlohmann::json::parse(res.body(), nullptr, false), written, why) ||
        written.resource_version.empty()) {
      written = next;  // the next attempt reads the version anyway
    }
    held_ = std::move(written);
    co_return outcome::held;
  }
  if (!stopping_) failed("lease conflicts in a row");
  co_return outcome::failed;
}

asio::awaitable<void> lease_elector::release() {
  if (!held_) co_return;
  const auto deadline = steady_clock::now() + opts_.request_timeout;
  // The version last written is usually current; after a 409 read it again
  // and release only what is still ours.
  lease_record current = *held_;
  for (int round = 0; round < max_rounds; ++round) {
    api_session::response res;
    std::string why;
    auto ec = co_await session_.call(http::verb::put, lease_path(), json_type,
                                     lease_object(opts_.namespace_, opts_.name,
                                                  release_lease(current, system_clock::now()))
                                         .dump(),
                                     left(deadline), res, why);
    if (ec) {
      log::warn("kube lease release failed", {{"error", why}});
      co_return;
    }
    if (res.result_int() == 200) {
      log::info("kube lease released", {{"lease", opts_.namespace_ + "/" + opts_.name}});
      co_return;
    }
    if (res.result_int() != 409) break;
    ec = co_await session_.call(http::verb::get, lease_path(), {}, {}, left(deadline), res, why);
    if (ec || res.result_int() != 200 ||
        !parse_lease(nlohmann::json::parse(res.body(), nullptr, false), current, why) ||
        current.holder != opts_.identity)
      co_return;  // gone, unreadable or someone else's: nothing to release
  }
  log::warn("kube lease release refused", {{"lease", opts_.namespace_ + "/" + opts_.name}});
}

}  // namespace lb::kube
