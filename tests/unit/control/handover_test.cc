// The binary-upgrade handover: message text, matching sockets by address,
// and descriptors really passed over a socketpair (SCM_RIGHTS).
#include "lb/control/handover.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "lb/listener/listen_socket.h"

namespace lb::control {
namespace {

using kind = handover_message::kind;

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

TEST(HandoverMessage, RoundTripsEveryKind) {
  for (const auto& m : {handover_message{kind::listener, "127.0.0.1:8080"}, handover_message{kind::admin, "[::1]:9901"},
                        handover_message{kind::end, ""}, handover_message{kind::ready, "4242"},
                        handover_message{kind::failed, "config invalid: lb.yaml:3:5: unknown key"}}) {
    const auto text = encode(m);
    const auto back = decode(text);
    ASSERT_TRUE(back.has_value()) << text;
    EXPECT_EQ(back->what, m.what) << text;
    EXPECT_EQ(back->arg, m.arg) << text;
  }
  EXPECT_EQ(encode({kind::listener, "0.0.0.0:80"}), "lb-handover 1 listener 0.0.0.0:80");
  EXPECT_EQ(encode({kind::end, ""}), "lb-handover 1 end");
}

TEST(HandoverMessage, RefusesWhatItDoesNotKnow) {
  for (const char* text : {"", "lb-handover 1", "lb-handover 2 end", "lb-handover 1 end extra", "lb-handover 1 listener",
                           "lb-handover 1 listener ", "lb-handover 1 ready 12x", "lb-handover 1 bogus x",
                           "LB-HANDOVER 1 end", "hello"})
    EXPECT_FALSE(decode(text).has_value()) << text;
  EXPECT_FALSE(decode("lb-handover 1 failed " + std::string(600, 'x')).has_value());
}

TEST(HandoverMessage, AReasonCannotForgeASecondLine) {
  const auto text = encode({kind::failed, "bad\nlb-handover 1 ready 1"});
  EXPECT_EQ(text.find('\n'), std::string::npos);
  EXPECT_EQ(decode(text)->what, kind::failed);
}

TEST(HandedSockets, TakesByKindAndExactAddressOnce) {
  int p[2], q[2];
  ASSERT_EQ(::pipe(p), 0);
  ASSERT_EQ(::pipe(q), 0);
  {
    handed_sockets h;
    h.add(kind::listener, "127.0.0.1:8080", {p[0]});
    h.add(kind::listener, "127.0.0.1:8080", {p[1]});  // a second message appends
    h.add(kind::admin, "127.0.0.1:9901", {q[0]});
    h.add(kind::listener, "127.0.0.1:9090", {q[1]});
    EXPECT_EQ(h.left(), 4u);
    EXPECT_TRUE(h.take(kind::listener, "127.0.0.1:9901").empty());  // admin's address, not a listener's
    EXPECT_TRUE(h.take(kind::listener, "0.0.0.0:8080").empty());
    EXPECT_EQ(h.take(kind::listener, "127.0.0.1:8080"), (std::vector<int>{p[0], p[1]}));
    EXPECT_TRUE(h.take(kind::listener, "127.0.0.1:8080").empty());  // once
    EXPECT_EQ(h.take(kind::admin, "127.0.0.1:9901"), std::vector<int>{q[0]});
    EXPECT_EQ(h.left(), 1u);
  }
  // What nobody took closed with the set; what was taken is the caller's.
  EXPECT_FALSE(is_open(q[1]));
  EXPECT_TRUE(is_open(p[0]) && is_open(p[1]) && is_open(q[0]));
  for (int fd : {p[0], p[1], q[0]}) ::close(fd);
}

TEST(HandoverChannel, PassesListeningSocketsThatStillListen) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  boost::asio::io_context io;
  auto bound = listener::bind_reuseport(io, 2, {boost::asio::ip::make_address("127.0.0.1"), 0});
  const auto port = bound.front().local_endpoint().port();
  EXPECT_EQ(send_message(sv[0], {kind::listener, "127.0.0.1:0"}, {bound[0].native_handle(), bound[1].native_handle()}), "");
  EXPECT_EQ(send_message(sv[0], {kind::end, ""}), "");
  handed_sockets got;
  EXPECT_EQ(receive_sockets(sv[1], std::chrono::seconds(2), got), "");
  auto fds = got.take(kind::listener, "127.0.0.1:0");
  ASSERT_EQ(fds.size(), 2u);
  bound.clear();  // the sender lets go: the same sockets live on in the receiver
  for (int fd : fds) {
    EXPECT_TRUE(::fcntl(fd, F_GETFD) & FD_CLOEXEC);
    auto s = listener::adopt_listening(fd);
    EXPECT_EQ(s.local_endpoint().port(), port);
  }
  ::close(sv[0]);
  ::close(sv[1]);
}

TEST(HandoverChannel, ReportsTimeoutCloseAndGarbage) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  handover_message m;
  std::vector<int> fds;
  EXPECT_EQ(receive_message(sv[1], std::chrono::milliseconds(10), m, fds), "timeout");
  ASSERT_EQ(::send(sv[0], "hello", 5, 0), 5);
  EXPECT_EQ(receive_message(sv[1], std::chrono::milliseconds(100), m, fds), "malformed message");
  ::close(sv[0]);
  EXPECT_EQ(receive_message(sv[1], std::chrono::milliseconds(100), m, fds), "closed");
  ::close(sv[1]);
}

TEST(AdoptListening, RefusesASocketThatDoesNotListen) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  EXPECT_THROW(listener::adopt_listening(fd), boost::system::system_error);
  EXPECT_FALSE(is_open(fd));  // closed by the refusal
}

}  // namespace
}  // namespace lb::control
