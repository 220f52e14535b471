#include "lb/kube/watcher.h"

#include <pthread.h>

#include <random>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "lb/core/log.h"
#include "lb/kube/api_connection.h"
#include "lb/kube/line_splitter.h"
#include "lb/kube/token_source.h"

namespace lb::kube {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::redirect_error;
using asio::use_awaitable;
using std::chrono::steady_clock;

namespace {

// How a watch ended.
enum outcome : int { none, ended, gone, unauthorized, failed };

constexpr std::size_t error_body_limit = 64 << 10;

}  // namespace

struct watcher::shared_state {
  asio::ssl::context tls;
  token_source token;
  std::mt19937_64 rng;
};

struct watcher::stream {
  stream(asio::io_context& io, resource r, const watch_options& o, std::uint64_t seed)
      : res(std::move(r)), timer(io), retry(o.backoff, seed), lines(o.max_line_bytes) {}
  resource res;
  std::string rv;          // the last resourceVersion seen (list, event or bookmark)
  bool need_list = true;
  bool listed_once = false;
  unsigned gone_in_row = 0;  // 410s with no list between that succeeded in delivering events
  asio::steady_timer timer;
  std::unique_ptr<api_connection> conn;
  backoff retry;
  line_splitter lines;
};

watcher::watcher(credentials creds, std::vector<resource> resources, watch_options opts, watch_sink& sink)
    : creds_(std::move(creds)), opts_(std::move(opts)), sink_(sink) {
  if (opts_.seed == 0) opts_.seed = static_cast<std::uint64_t>(steady_clock::now().time_since_epoch().count());
  if (opts_.idle_timeout.count() == 0) opts_.idle_timeout = 2 * opts_.watch_timeout + std::chrono::seconds(30);
  std::uint64_t seed = opts_.seed;
  for (auto& r : resources) streams_.push_back(std::make_unique<stream>(io_, std::move(r), opts_, ++seed));
}

watcher::~watcher() { stop(); }

bool watcher::start(std::string& why) {
  if (streams_.empty()) {
    why = "no resources to watch";
    return false;
  }
  auto tls = make_tls_context(creds_, why);
  if (!tls) return false;
  shared_.reset(new shared_state{std::move(*tls), token_source(creds_), std::mt19937_64(opts_.seed)});
  for (auto& s : streams_) {
    asio::co_spawn(io_, run(*s), [name = s->res.name](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        log::error("kube watch stream ended by an exception", {{"resource", name}, {"error", x.what()}});
      }
    });
  }
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "lb-kube-watch");
    io_.run();
  });
  return true;
}

void watcher::stop() {
  if (!thread_.joinable()) return;
  asio::post(io_, [this] {
    stopping_ = true;
    for (auto& s : streams_) {
      s->timer.cancel();
      if (s->conn) s->conn->close();
    }
  });
  thread_.join();
}

asio::awaitable<void> watcher::run(stream& s) {
  while (!stopping_) {
    bool retry_now = false;
    // A malformed answer (a field of the wrong JSON type, say) is one failed
    // attempt of this stream, never the end of it.
    try {
      if (s.need_list) {
        if (co_await list(s)) {
          s.need_list = false;
          s.retry.reset();
          continue;
        }
      } else {
        const auto start = steady_clock::now();
        const int o = co_await watch(s);
        const bool long_enough = steady_clock::now() - start >= std::chrono::seconds(1);
        if (o == gone) {
          s.need_list = true;
          // A second 410 in a row without events between: the server is not
          // settling, so the re-list waits its back-off.
          retry_now = ++s.gone_in_row == 1;
        } else if (o == ended) {
          retry_now = long_enough;  // a server timeout: resume at once, unless it is instant every time
        }
      }
    } catch (const std::exception& e) {
      log::warn("kube watch answer refused", {{"resource", s.res.name}, {"error", e.what()}});
      if (s.conn) s.conn->close();
    }
    if (stopping_) break;
    if (retry_now) continue;
    const auto delay = s.retry.next();
    log::info("kube watch retrying", {{"resource", s.res.name}, {"in_ms", std::to_string(delay.count())}});
    s.timer.expires_after(delay);
    boost::system::error_code ec;
    co_await s.timer.async_wait(redirect_error(use_awaitable, ec));
  }
}

asio::awaitable<bool> watcher::list(stream& s) {
  std::vector<nlohmann::json> items;
  std::string cont, rv;
  bool restarted = false;
  for (;;) {
    s.conn = std::make_unique<api_connection>(io_, shared_->tls, creds_);
    std::string why;
    auto ec = co_await s.conn->connect(opts_.request_timeout, why);
    if (stopping_) co_return false;
    if (ec) {
      log::warn("kube list failed", {{"resource", s.res.name}, {"error", why}});
      co_return false;
    }
    http::response<http::string_body> res;
    const auto target = list_target(s.res, s.res.namespace_override.value_or(opts_.namespace_), opts_.list_limit, cont);
    ec = co_await s.conn->get(target, shared_->token.current(), opts_.max_list_page_bytes, opts_.request_timeout, res);
    s.conn->close();
    if (stopping_) co_return false;
    if (ec) {
      log::warn("kube list failed", {{"resource", s.res.name}, {"error", ec.message()}});
      co_return false;
    }
    const unsigned status = res.result_int();
    if (status == 401) {
      const bool changed = shared_->token.refresh();
      log::warn("kube list unauthorized", {{"resource", s.res.name},
                                           {"token", changed ? "re-read, changed" : "re-read, unchanged"},
                                           {"error", shared_->token.warning()}});
      co_return false;
    }
    // An expired continue token: the snapshot it paged is gone; start over once.
    if (status == 410 && !cont.empty() && !restarted) {
      restarted = true;
      cont.clear();
      items.clear();
      continue;
    }
    if (status != 200) {
      log::warn("kube list refused", {{"resource", s.res.name},
                                      {"status", std::to_string(status)},
                                      {"error", status_message(res.body())}});
      co_return false;
    }
    auto page = nlohmann::json::parse(res.body(), nullptr, false);
    if (page.is_discarded() || !page.is_object() || !page.contains("items") || !page["items"].is_array()) {
      log::warn("kube list answer is not a list", {{"resource", s.res.name}});
      co_return false;
    }
    const auto api_version = page.value("apiVersion", std::string{});
    for (auto& item : page["items"]) {
      // List items come without kind and apiVersion; events carry both.
      if (!item.contains("kind")) item["kind"] = s.res.kind;
      if (!item.contains("apiVersion")) item["apiVersion"] = api_version;
      items.push_back(std::move(item));
    }
    const auto meta = page.value("metadata", nlohmann::json::object());
    rv = meta.value("resourceVersion", std::string{});
    cont = meta.value("continue", std::string{});
    if (cont.empty()) break;
  }
  s.conn.reset();
  s.rv = rv;
  try {
    sink_.on_list(s.res, std::move(items), rv);
  } catch (const std::exception& e) {
    log::error("kube on_list threw", {{"resource", s.res.name}, {"error", e.what()}});
  }
  if (!s.listed_once) {
    s.listed_once = true;
    listed();
  }
  co_return true;
}

void watcher::listed() {
  if (++listed_ != streams_.size()) return;
  synced_.store(true, std::memory_order_release);
  try {
    sink_.on_synced();
  } catch (const std::exception& e) {
    log::error("kube on_synced threw", {{"error", e.what()}});
  }
}

asio::awaitable<int> watcher::watch(stream& s) {
  s.conn = std::make_unique<api_connection>(io_, shared_->tls, creds_);
  std::string why;
  auto ec = co_await s.conn->connect(opts_.request_timeout, why);
  if (stopping_) co_return failed;
  if (ec) {
    log::warn("kube watch failed", {{"resource", s.res.name}, {"error", why}});
    co_return failed;
  }
  // client-go's spread: each watch ends between 1 and 2 timeouts.
  std::uniform_real_distribution<double> spread(1.0, 2.0);
  const auto timeout = std::chrono::seconds(
      static_cast<std::int64_t>(static_cast<double>(opts_.watch_timeout.count()) * spread(shared_->rng)));
  unsigned status = 0;
  const auto target = watch_target(s.res, s.res.namespace_override.value_or(opts_.namespace_), s.rv, timeout);
  ec = co_await s.conn->start_stream(target, shared_->token.current(), opts_.request_timeout, status);
  if (stopping_) co_return failed;
  if (ec) {
    log::warn("kube watch failed", {{"resource", s.res.name}, {"error", ec.message()}});
    co_return failed;
  }
  std::string_view data;
  bool done = false;
  if (status != 200) {
    std::string body;
    while (!done && body.size() < error_body_limit) {
      if ((co_await s.conn->read_some(opts_.request_timeout, data, done)) || stopping_) break;
      body.append(data);
    }
    s.conn->close();
    if (status == 401) {
      const bool changed = shared_->token.refresh();
      log::warn("kube watch unauthorized", {{"resource", s.res.name},
                                            {"token", changed ? "re-read, changed" : "re-read, unchanged"},
                                            {"error", shared_->token.warning()}});
      co_return unauthorized;
    }
    log::warn("kube watch refused", {{"resource", s.res.name},
                                     {"status", std::to_string(status)},
                                     {"error", status_message(body)}});
    co_return status == 410 ? gone : failed;
  }
  s.retry.reset();
  s.lines.clear();
  int result = none;
  while (result == none) {
    ec = co_await s.conn->read_some(opts_.idle_timeout, data, done);
    if (stopping_) co_return failed;
    if (ec) {
      log::warn("kube watch disconnected", {{"resource", s.res.name}, {"error", ec.message()}});
      result = failed;
      break;
    }
    const bool fits = s.lines.feed(data, [&](std::string_view line) {
      if (result == none) deliver_line(s, line, result);
    });
    if (!fits) {
      log::warn("kube watch event too large", {{"resource", s.res.name},
                                               {"limit", std::to_string(opts_.max_line_bytes)}});
      result = failed;
    } else if (done && result == none) {
      result = ended;
    }
  }
  s.conn->close();
  co_return result;
}

void watcher::deliver_line(stream& s, std::string_view line, int& outcome) {
  watch_event ev;
  std::string why;
  if (!parse_watch_line(line, ev, why)) {
    log::warn("kube watch line refused", {{"resource", s.res.name}, {"error", why}});
    outcome = failed;
    return;
  }
  try {
    switch (ev.type) {
      case event_type::error:
        log::warn("kube watch error event", {{"resource", s.res.name},
                                             {"code", std::to_string(ev.code)},
                                             {"error", ev.message}});
        outcome = ev.code == 410 ? gone : failed;
        return;
      case event_type::bookmark:
        s.rv = ev.resource_version;
        sink_.on_bookmark(s.res, s.rv);
        return;
      default:
        s.rv = ev.resource_version;
        s.gone_in_row = 0;
        sink_.on_event(s.res, ev.type, std::move(ev.object));
        return;
    }
  } catch (const std::exception& e) {
    log::error("kube watch consumer threw", {{"resource", s.res.name}, {"error", e.what()}});
  }
}

}  // namespace lb::kube
