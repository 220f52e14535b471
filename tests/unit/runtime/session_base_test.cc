#include "lb/runtime/session_base.h"

#include <gtest/gtest.h>

#include <memory>

namespace lb::runtime {
namespace {

using namespace std::chrono_literals;

// A connection with two activities, like an HTTP/1 exchange whose upload
// runs while the response is read.
struct two_activities final : session_base {
  two_activities() : session_base(connection_ticket(std::make_shared<upstream::listener_live>("l", 1), 0)) {}
  void on_timeout() override { expired = expire(response, upload); }
  void on_drain() override {}
  void on_force_close() override {}
  io_deadline response, upload;
  bool expired = false;
};

TEST(session_base, arming_one_deadline_never_moves_the_other) {
  two_activities s;
  s.arm(s.response, 10s);
  const auto response_at = s.response.at;
  s.arm(s.upload, 1h);  // later: must not push the response's deadline out
  EXPECT_EQ(s.response.at, response_at);
  EXPECT_LE(s.deadline(), response_at);  // the connection wakes for the earliest
  s.arm(s.upload, 1ms);                  // earlier: the connection's deadline follows
  EXPECT_EQ(s.deadline(), s.upload.at);
}

TEST(session_base, expire_fires_only_what_is_due) {
  two_activities s;
  s.arm(s.upload, -1ms);  // already due
  s.arm(s.response, 1h);
  s.on_timeout();
  EXPECT_TRUE(s.expired);
  EXPECT_TRUE(s.upload.fired);
  EXPECT_FALSE(s.response.fired);
  EXPECT_EQ(s.deadline(), s.response.at);  // the next wake-up is the one left
}

TEST(session_base, an_extended_deadline_is_taken_up_without_firing) {
  two_activities s;
  s.arm(s.response, -1ms);
  s.arm(s.response, 1h);  // extended before the sweep came by
  s.on_timeout();         // the sweep wakes for the old, earlier value
  EXPECT_FALSE(s.expired);
  EXPECT_FALSE(s.response.fired);
  EXPECT_EQ(s.deadline(), s.response.at);
}

TEST(session_base, rearming_clears_fired) {
  two_activities s;
  s.arm(s.response, -1ms);
  s.on_timeout();
  ASSERT_TRUE(s.response.fired);
  s.arm(s.response, 1s);
  EXPECT_FALSE(s.response.fired);
}

}  // namespace
}  // namespace lb::runtime
