#include "lb/health/checker.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include "lb/config/loader.h"
#include "lb/runtime/snapshot.h"
#include "lb/upstream/live.h"

namespace lb::health {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

// A loopback HTTP server on the test's io_context whose answer can be
// switched: a status, or no answer at all (`hang`). Counts what it sees.
class stub_server {
 public:
  struct state {
    explicit state(asio::io_context& io) : acceptor(io) {}
    tcp::acceptor acceptor;
    unsigned status = 200;
    bool hang = false;
    unsigned connections = 0;
    unsigned requests = 0;
    std::map<unsigned, unsigned> answered;  // status -> responses written
    std::string target, host, user_agent, connection;  // of the last request
    std::vector<std::shared_ptr<tcp::socket>> held;    // hung requests
  };

  explicit stub_server(asio::io_context& io) : st_(std::make_shared<state>(io)) {
    const tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
    st_->acceptor.open(ep.protocol());
    st_->acceptor.bind(ep);
    st_->acceptor.listen();
    asio::co_spawn(io, accept_loop(st_), asio::detached);
  }
  ~stub_server() { close(); }

  void close() {
    error_code ignored;
    st_->acceptor.close(ignored);
    for (auto& s : st_->held) s->close(ignored);
    st_->held.clear();
  }

  std::uint16_t port() const { return st_->acceptor.local_endpoint().port(); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port()); }
  state& st() { return *st_; }

 private:
  static asio::awaitable<void> accept_loop(std::shared_ptr<state> st) {
    for (;;) {
      error_code ec;
      tcp::socket s = co_await st->acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      ++st->connections;
      asio::co_spawn(st->acceptor.get_executor(), serve(st, std::move(s)), asio::detached);
    }
  }

  static asio::awaitable<void> serve(std::shared_ptr<state> st, tcp::socket s) {
    error_code ec;
    beast::flat_buffer buf;
    bhttp::request_parser<bhttp::empty_body> parser;
    co_await bhttp::async_read(s, buf, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;  // a tcp check: connected and closed
    ++st->requests;
    const auto& req = parser.get();
    st->target = std::string(req.target());
    st->host = std::string(req[bhttp::field::host]);
    st->user_agent = std::string(req[bhttp::field::user_agent]);
    st->connection = std::string(req[bhttp::field::connection]);
    if (st->hang) {
      st->held.push_back(std::make_shared<tcp::socket>(std::move(s)));
      co_return;
    }
    const unsigned status = st->status;
    bhttp::response<bhttp::empty_body> res{static_cast<bhttp::status>(status), 11};
    res.keep_alive(false);
    res.prepare_payload();
    co_await bhttp::async_write(s, res, asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) ++st->answered[status];
    s.shutdown(tcp::socket::shutdown_send, ec);
  }

  std::shared_ptr<state> st_;
};

// A port on 127.0.0.1 that refuses connections: bound once, then closed.
std::string closed_address() {
  asio::io_context io;
  tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto port = a.local_endpoint().port();
  a.close();
  return "127.0.0.1:" + std::to_string(port);
}

struct pool_spec {
  std::string name;
  std::vector<std::string> endpoints;
  std::string health_check;  // a YAML flow map, or empty for none
};

std::string config_yaml(const std::vector<pool_spec>& pools) {
  std::string y = "listeners:\n  - name: web\n    listen: 127.0.0.1:8080\n    routes:\n      - pool: " +
                  pools.front().name + "\npools:\n";
  for (const auto& p : pools) {
    y += "  - name: " + p.name + "\n    endpoints:\n";
    for (const auto& e : p.endpoints) y += "      - " + e + "\n";
    if (!p.health_check.empty()) y += "    health_check: " + p.health_check + "\n";
  }
  return y;
}

std::shared_ptr<const runtime::snapshot> build(upstream::live_registry& reg, const std::vector<pool_spec>& pools,
                                               std::uint64_t version = 1) {
  const auto yaml = config_yaml(pools);
  const auto r = config::load_string(yaml, "t.yaml");
  for (const auto& e : r.errors) ADD_FAILURE() << e.str() << "\n" << yaml;
  if (!r.ok()) return nullptr;
  std::vector<std::string> errors;
  auto snap = runtime::build_snapshot(r.cfg, version, reg, errors);
  for (const auto& e : errors) ADD_FAILURE() << e;
  reg.retain_only_used();
  return snap;
}

// Fast checks: every 100ms, two results to flip either way.
const std::string fast_http =
    "{ type: http, path: /hc, interval: 100ms, timeout: 80ms, healthy_threshold: 2, "
    "unhealthy_threshold: 2, expect_status: 200-299 }";
const std::string fast_tcp = "{ type: tcp, interval: 100ms, timeout: 80ms, unhealthy_threshold: 2 }";

class checker_test : public ::testing::Test {
 protected:
  // Runs the io_context until `pred` holds or `limit` passes; true if it held.
  // `pred` is tested after every handler, so it sees each state change.
  template <class Pred>
  bool run_until(Pred pred, std::chrono::milliseconds limit = 5s) {
    const auto deadline = steady::now() + limit;
    while (!pred()) {
      if (steady::now() >= deadline) return false;
      io_.run_one_until(deadline);
    }
    return true;
  }

  static upstream::endpoint_live& live(const std::shared_ptr<const runtime::snapshot>& snap, std::size_t pool = 0,
                                       std::size_t ep = 0) {
    return *snap->pools[pool].live.at(ep);
  }
  static bool healthy(const upstream::endpoint_live& l) { return l.healthy.load(std::memory_order_relaxed); }

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  upstream::live_registry reg_{1};
};

TEST_F(checker_test, http_check_follows_the_status) {
  stub_server srv(io_);
  auto snap = build(reg_, {{"app", {srv.address()}, fast_http}});
  ASSERT_TRUE(snap);
  auto& ep = live(snap);
  checker c(io_, 42);
  c.update(snap);
  EXPECT_EQ(c.checked(), 1u);

  ASSERT_TRUE(run_until([&] { return srv.st().answered[200] >= 2; }));
  EXPECT_TRUE(healthy(ep));
  EXPECT_EQ(srv.st().target, "/hc");
  EXPECT_EQ(srv.st().host, srv.address());
  EXPECT_EQ(srv.st().user_agent, "lb-health-check");
  EXPECT_EQ(srv.st().connection, "close");

  srv.st().status = 500;
  ASSERT_TRUE(run_until([&] { return !healthy(ep); })) << "500s never took the endpoint down";
  EXPECT_GE(srv.st().answered[500], 2u) << "went down before unhealthy_threshold failures";
  const auto down_since = ep.ready_since.load();

  srv.st().status = 204;  // any status in expect_status
  const auto ok_before = srv.st().answered[204];
  ASSERT_TRUE(run_until([&] { return healthy(ep); })) << "204s never brought the endpoint back";
  EXPECT_GE(srv.st().answered[204] - ok_before, 2u) << "came up before healthy_threshold successes";
  EXPECT_GT(ep.ready_since.load(), down_since) << "slow start must ramp from the recovery";
}

TEST_F(checker_test, http_check_sends_the_configured_host) {
  stub_server srv(io_);
  auto snap = build(reg_, {{"app",
                            {srv.address()},
                            "{ type: http, path: /ready, host: health.example, interval: 100ms, timeout: 80ms }"}});
  ASSERT_TRUE(snap);
  checker c(io_, 1);
  c.update(snap);
  ASSERT_TRUE(run_until([&] { return srv.st().requests >= 1; }));
  EXPECT_EQ(srv.st().target, "/ready");
  EXPECT_EQ(srv.st().host, "health.example");
}

TEST_F(checker_test, http_check_without_an_answer_times_out) {
  stub_server srv(io_);
  srv.st().hang = true;
  auto snap = build(reg_, {{"app", {srv.address()}, fast_http}});
  ASSERT_TRUE(snap);
  auto& ep = live(snap);
  checker c(io_, 7);
  c.update(snap);
  ASSERT_TRUE(run_until([&] { return !healthy(ep); })) << "unanswered checks never took the endpoint down";
  EXPECT_GE(srv.st().requests, 2u);
}

TEST_F(checker_test, tcp_check_against_a_closed_port_goes_unhealthy) {
  stub_server srv(io_);
  auto snap = build(reg_, {{"db", {srv.address(), closed_address()}, fast_tcp}});
  ASSERT_TRUE(snap);
  auto& open_ep = live(snap, 0, 0);
  auto& closed_ep = live(snap, 0, 1);
  checker c(io_, 3);
  c.update(snap);
  ASSERT_TRUE(run_until([&] { return !healthy(closed_ep); })) << "refused connects never took it down";
  ASSERT_TRUE(run_until([&] { return srv.st().connections >= 3; }));
  EXPECT_TRUE(healthy(open_ep));
  EXPECT_EQ(srv.st().requests, 0u) << "a tcp check sends nothing";
}

TEST_F(checker_test, first_check_comes_early_not_an_interval_later) {
  stub_server srv(io_);
  auto snap = build(reg_, {{"app", {srv.address()}, "{ type: http, path: /hc, interval: 10s, timeout: 1s }"}});
  ASSERT_TRUE(snap);
  checker c(io_, 5);
  c.update(snap);
  // Due within the first tenth of the interval (1s); well before the interval.
  EXPECT_TRUE(run_until([&] { return srv.st().requests >= 1; }, 5s));
}

TEST_F(checker_test, update_without_the_endpoint_stops_checking_it) {
  stub_server a(io_), b(io_);
  auto snap1 = build(reg_, {{"app", {a.address()}, fast_http}});
  ASSERT_TRUE(snap1);
  checker c(io_, 11);
  c.update(snap1);
  ASSERT_TRUE(run_until([&] { return a.st().requests >= 2; }));

  auto snap2 = build(reg_, {{"app", {b.address()}, fast_http}}, 2);
  ASSERT_TRUE(snap2);
  c.update(snap2);
  EXPECT_EQ(c.checked(), 1u);
  const auto a_seen = a.st().connections;
  // b's checks prove time passed; a check to `a` in flight at update() may still land.
  ASSERT_TRUE(run_until([&] { return b.st().requests >= 4; }));
  EXPECT_LE(a.st().connections, a_seen + 1);
}

TEST_F(checker_test, staying_endpoint_keeps_its_state_and_checks) {
  stub_server srv(io_);
  srv.st().status = 503;
  auto snap1 = build(reg_, {{"app", {srv.address()}, fast_http}});
  ASSERT_TRUE(snap1);
  auto& ep = live(snap1);
  checker c(io_, 13);
  c.update(snap1);
  ASSERT_TRUE(run_until([&] { return !healthy(ep); }));

  // A reload that keeps the endpoint (and adds one): same live object, still down.
  stub_server other(io_);
  auto snap2 = build(reg_, {{"app", {srv.address(), other.address()}, fast_http}}, 2);
  ASSERT_TRUE(snap2);
  ASSERT_EQ(&live(snap2, 0, 0), &ep);
  c.update(snap2);
  EXPECT_EQ(c.checked(), 2u);
  EXPECT_FALSE(healthy(ep)) << "a reload must not reset a down endpoint to up";
  EXPECT_TRUE(healthy(live(snap2, 0, 1))) << "new endpoints start up";

  const auto seen = srv.st().requests;
  ASSERT_TRUE(run_until([&] { return srv.st().requests >= seen + 2; })) << "checks continue after the reload";
  EXPECT_FALSE(healthy(ep));
  srv.st().status = 200;
  ASSERT_TRUE(run_until([&] { return healthy(ep); }));
}

TEST_F(checker_test, a_shorter_interval_on_reload_pulls_the_next_check_in) {
  stub_server srv(io_);
  auto snap1 = build(reg_, {{"app", {srv.address()}, "{ type: http, path: /hc, interval: 20s, timeout: 1s }"}});
  ASSERT_TRUE(snap1);
  checker c(io_, 31);
  c.update(snap1);
  ASSERT_TRUE(run_until([&] { return srv.st().requests >= 1; }));  // the next is ~20s away

  auto snap2 = build(reg_, {{"app", {srv.address()}, fast_http}}, 2);
  ASSERT_TRUE(snap2);
  c.update(snap2);
  EXPECT_TRUE(run_until([&] { return srv.st().requests >= 3; })) << "still waiting out the old interval";
}

TEST_F(checker_test, removing_the_health_check_sets_endpoints_healthy) {
  stub_server srv(io_);
  srv.st().status = 500;
  auto snap1 = build(reg_, {{"app", {srv.address()}, fast_http}});
  ASSERT_TRUE(snap1);
  auto& ep = live(snap1);
  checker c(io_, 17);
  c.update(snap1);
  ASSERT_TRUE(run_until([&] { return !healthy(ep); }));
  const auto down_since = ep.ready_since.load();

  auto snap2 = build(reg_, {{"app", {srv.address()}, ""}}, 2);
  ASSERT_TRUE(snap2);
  ASSERT_EQ(&live(snap2), &ep);
  c.update(snap2);
  EXPECT_TRUE(healthy(ep));
  EXPECT_GE(ep.ready_since.load(), down_since);
  EXPECT_EQ(c.checked(), 0u);
}

TEST_F(checker_test, stop_ends_every_check_and_is_final) {
  stub_server a(io_), b(io_);
  upstream::live_registry reg_b(1);
  auto snap_a = build(reg_, {{"app", {a.address()}, fast_http}});
  auto snap_b = build(reg_b, {{"app", {b.address()}, fast_http}});
  ASSERT_TRUE(snap_a && snap_b);
  checker ca(io_, 19), cb(io_, 23);
  ca.update(snap_a);
  cb.update(snap_b);
  ASSERT_TRUE(run_until([&] { return a.st().requests >= 2; }));

  ca.stop();
  ca.stop();
  ca.update(snap_a);  // ignored after stop()
  EXPECT_EQ(ca.checked(), 0u);
  const auto a_seen = a.st().connections;
  const auto b_seen = b.st().requests;
  ASSERT_TRUE(run_until([&] { return b.st().requests >= b_seen + 4; }));
  EXPECT_LE(a.st().connections, a_seen + 1);
}

TEST_F(checker_test, destroying_the_checker_mid_check_is_safe) {
  stub_server srv(io_);
  srv.st().hang = true;
  auto snap = build(reg_, {{"app", {srv.address()}, "{ type: http, path: /hc, interval: 10s, timeout: 5s }"}});
  ASSERT_TRUE(snap);
  auto& ep = live(snap);
  auto c = std::make_unique<checker>(io_, 29);
  c->update(snap);
  ASSERT_TRUE(run_until([&] { return srv.st().requests >= 1; }));  // a check now waits for its answer
  c.reset();
  // The abandoned check completes (aborted) without touching health.
  for (int i = 0; i < 10; ++i) io_.poll();
  EXPECT_TRUE(healthy(ep));
}

}  // namespace
}  // namespace lb::health
