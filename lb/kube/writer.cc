#include "lb/kube/writer.h"

#include <pthread.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/verb.hpp>

#include "lb/core/log.h"
#include "lb/kube/api_session.h"
#include "lb/kube/watch_event.h"

namespace lb::kube {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using std::chrono::steady_clock;

namespace {

std::uint64_t seed_or_clock(std::uint64_t seed) {
  return seed ? seed : static_cast<std::uint64_t>(steady_clock::now().time_since_epoch().count());
}

void log_spawn_error(const char* what, std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    log::error(what, {{"error", x.what()}});
  }
}

}  // namespace

struct writer::tls_state {
  tls_state(asio::io_context& io, asio::ssl::context c, const credentials& creds)
      : tls(std::move(c)), token(creds), queue(io, tls, creds, token), lease(io, tls, creds, token) {}
  asio::ssl::context tls;
  token_source token;
  api_session queue;  // the queued writes
  api_session lease;  // the elector's, so renewals never wait behind the queue
};

writer::writer(credentials creds, writer_options opts)
    : creds_(std::move(creds)),
      opts_(std::move(opts)),
      wake_(io_),
      pause_(io_),
      retry_(opts_.backoff, seed_or_clock(opts_.seed)),
      dedup_(opts_.event_dedup_window) {}

writer::~writer() { stop(); }

void writer::elect(lease_options lease, lease_elector::callback on_leading) {
  lease_ = std::move(lease);
  on_leading_ = std::move(on_leading);
}

bool writer::start(std::string& why) {
  if (lease_) {
    why = check(*lease_);
    if (!why.empty()) return false;
  }
  auto tls = make_tls_context(creds_, why);
  if (!tls) return false;
  tls_ = std::make_unique<tls_state>(io_, std::move(*tls), creds_);
  asio::co_spawn(io_, drain(), [](std::exception_ptr e) { log_spawn_error("kube writer queue ended by an exception", e); });
  if (lease_) {
    elector_ = std::make_unique<lease_elector>(io_, tls_->lease, *lease_, on_leading_, seed_or_clock(opts_.seed) + 1);
    asio::co_spawn(io_, elector_->run(),
                   [](std::exception_ptr e) { log_spawn_error("kube lease elector ended by an exception", e); });
  }
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "lb-kube-write");
    io_.run();
  });
  return true;
}

void writer::stop() {
  if (!thread_.joinable()) return;
  stopped_.store(true, std::memory_order_release);
  asio::post(io_, [this] {
    stopping_ = true;
    wake_.cancel();
    pause_.cancel();
    tls_->queue.close();
    if (elector_) {
      elector_->request_stop();
      tls_->lease.close();
    }
  });
  thread_.join();
  std::lock_guard lock(mu_);
  if (!queue_.empty()) log::info("kube writes dropped at stop", {{"count", std::to_string(queue_.size())}});
  queue_.clear();
  pending_status_.clear();
  queued_events_ = 0;
}

void writer::set_ingress_status(std::string ns, std::string name, std::vector<lb_address> addresses,
                                std::optional<std::vector<lb_address>> current) {
  if (stopped_.load(std::memory_order_acquire)) return;
  auto key = ns + "/" + name;
  {
    std::lock_guard lock(mu_);
    const auto [it, fresh] = pending_status_.insert_or_assign(
        key, status_job{std::move(ns), std::move(name), std::move(addresses), std::move(current)});
    if (!fresh) return;  // coalesced: the queued entry now carries the newer status
    queue_.push_back(std::move(key));
  }
  asio::post(io_, [this] { wake_.cancel(); });
}

void writer::emit_event(object_ref obj, event_severity type, std::string reason, std::string message) {
  if (stopped_.load(std::memory_order_acquire)) return;
  const auto id = obj.uid.empty() ? obj.kind + "/" + obj.namespace_ + "/" + obj.name : obj.uid;
  bool dropped = false;
  {
    std::lock_guard lock(mu_);
    if (!dedup_.admit(id, reason, message, steady_clock::now())) return;
    if (queued_events_ >= opts_.max_queued_events) {
      dedup_.forget(id, reason, message);
      dropped = true;
    } else {
      ++queued_events_;
      queue_.push_back(event_job{std::move(obj), type, std::move(reason), std::move(message)});
    }
  }
  if (dropped) {
    log::warn("kube event dropped: queue full", {{"reason", reason}, {"object", obj.namespace_ + "/" + obj.name}});
    return;
  }
  asio::post(io_, [this] { wake_.cancel(); });
}

std::optional<writer::job> writer::take() {
  std::lock_guard lock(mu_);
  while (!queue_.empty()) {
    auto q = std::move(queue_.front());
    queue_.pop_front();
    if (auto* key = std::get_if<std::string>(&q)) {
      const auto it = pending_status_.find(*key);
      if (it == pending_status_.end()) continue;
      job j = std::move(it->second);
      pending_status_.erase(it);
      return j;
    }
    --queued_events_;
    return job(std::move(std::get<event_job>(q)));
  }
  return std::nullopt;
}

void writer::requeue(job j) {
  std::lock_guard lock(mu_);
  if (auto* s = std::get_if<status_job>(&j)) {
    auto key = s->ns + "/" + s->name;
    // A newer status for the same Ingress arrived meanwhile: it wins.
    if (pending_status_.contains(key)) return;
    pending_status_.emplace(key, std::move(*s));
    queue_.push_front(std::move(key));
  } else {
    ++queued_events_;
    queue_.push_front(std::move(std::get<event_job>(j)));
  }
}

asio::awaitable<void> writer::drain() {
  boost::system::error_code ec;
  while (!stopping_) {
    auto j = take();
    if (!j) {
      wake_.expires_at(steady_clock::time_point::max());
      co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    result r;
    if (auto* s = std::get_if<status_job>(&*j)) {
      r = co_await perform(*s);
    } else {
      r = co_await perform(std::get<event_job>(*j));
    }
    if (stopping_) break;
    if (r == result::done) {
      retry_.reset();
      continue;
    }
    requeue(std::move(*j));
    pause_.expires_after(retry_.next());
    co_await pause_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

asio::awaitable<writer::result> writer::perform(status_job& j) {
  const auto key = j.ns + "/" + j.name;
  auto want = normalized(std::move(j.addresses));
  j.addresses = want;  // a retry sends the same
  if (j.current) {
    if (normalized(*j.current) == want) {
      written_[key] = std::move(want);
      co_return result::done;
    }
  } else if (const auto it = written_.find(key); it != written_.end() && it->second == want) {
    co_return result::done;
  }
  api_session::response res;
  std::string why;
  const auto ec = co_await tls_->queue.call(http::verb::patch, ingress_status_path(j.ns, j.name),
                                            "application/merge-patch+json", status_patch(want).dump(),
                                            opts_.request_timeout, res, why);
  if (stopping_) co_return result::done;
  if (ec) {
    log::warn("kube ingress status not written, will retry", {{"ingress", key}, {"error", why}});
    co_return result::retry;
  }
  const unsigned status = res.result_int();
  if (status == 200) {
    written_[key] = std::move(want);
    co_return result::done;
  }
  if (status == 404) {
    written_.erase(key);
    log::info("kube ingress status not written: no such Ingress", {{"ingress", key}});
    co_return result::done;
  }
  const bool again = status == 401 || transient_status(status);
  log::warn(again ? "kube ingress status not written, will retry" : "kube ingress status refused",
            {{"ingress", key}, {"status", std::to_string(status)}, {"error", status_message(res.body())}});
  co_return again ? result::retry : result::done;
}

asio::awaitable<writer::result> writer::perform(event_job& j) {
  api_session::response res;
  std::string why;
  const auto body =
      event_object(j.obj, j.type, j.reason, j.message, opts_.component, std::chrono::system_clock::now()).dump();
  const auto ec = co_await tls_->queue.call(http::verb::post, "/api/v1/namespaces/" + j.obj.namespace_ + "/events",
                                            "application/json", body, opts_.request_timeout, res, why);
  if (stopping_) co_return result::done;
  const unsigned status = ec ? 0 : res.result_int();
  if (status == 200 || status == 201) co_return result::done;
  const bool again = ec || status == 401 || transient_status(status);
  const auto error = ec ? why : std::to_string(status) + " " + status_message(res.body());
  if (again && ++j.attempts < opts_.event_attempts) {
    log::warn("kube event not created, will retry", {{"reason", j.reason}, {"error", error}});
    co_return result::retry;
  }
  log::warn("kube event dropped", {{"reason", j.reason}, {"object", j.obj.namespace_ + "/" + j.obj.name}, {"error", error}});
  if (again) {
    // Given up on a passing failure: the next report of it may try again.
    std::lock_guard lock(mu_);
    dedup_.forget(j.obj.uid.empty() ? j.obj.kind + "/" + j.obj.namespace_ + "/" + j.obj.name : j.obj.uid, j.reason,
                  j.message);
  }
  co_return result::done;
}

}  // namespace lb::kube
