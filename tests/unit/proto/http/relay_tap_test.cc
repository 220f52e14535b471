#include <gtest/gtest.h>

#include <string>

#include "lb/proto/http/relay.h"

namespace lb::proto::http {
namespace {

namespace asio = boost::asio;

TEST(relay_tap, keeps_framed_pieces_without_the_head) {
  relay_tap tap;
  tap.cap = 64;
  const std::string head = "POST / HTTP/1.1\r\n\r\n";
  io::buffer_seq first;
  char size_line[20];
  frame_piece(first, size_line, &head, framing::chunked, "hello", 5, false);
  tap.keep(first, 1, 5, false);
  io::buffer_seq second;
  frame_piece(second, size_line, nullptr, framing::chunked, "abc", 3, true);
  tap.keep(second, 0, 3, true);
  EXPECT_EQ(tap.sent, "5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n");
  EXPECT_EQ(tap.body_sent, 8u);
  EXPECT_TRUE(tap.ended);
  EXPECT_FALSE(tap.lost);
}

TEST(relay_tap, past_its_cap_keeps_nothing_and_says_so) {
  relay_tap tap;
  tap.cap = 8;
  io::buffer_seq a(asio::buffer("12345", 5));
  tap.keep(a, 0, 5, false);
  EXPECT_EQ(tap.sent, "12345");
  io::buffer_seq b(asio::buffer("6789", 4));
  tap.keep(b, 0, 4, false);
  EXPECT_TRUE(tap.lost);
  EXPECT_TRUE(tap.sent.empty());
  EXPECT_EQ(tap.body_sent, 9u);  // still counted: a sized body resumes after it
  io::buffer_seq c(asio::buffer("0", 1));
  tap.keep(c, 0, 1, true);
  EXPECT_TRUE(tap.lost);  // once lost, for good
  EXPECT_TRUE(tap.sent.empty());
}

TEST(relay_tap, without_a_cap_nothing_can_be_replayed) {
  relay_tap tap;  // an upstream that cannot refuse: cap 0
  io::buffer_seq a(asio::buffer("x", 1));
  tap.keep(a, 0, 1, true);
  EXPECT_TRUE(tap.lost);
  EXPECT_TRUE(tap.ended);
}

}  // namespace
}  // namespace lb::proto::http
