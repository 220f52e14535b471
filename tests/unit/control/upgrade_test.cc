// The old process's side of a binary upgrade, where it needs no new lb: how
// the binary is found again, and a start that cannot happen.
#include "lb/control/upgrade.h"

#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

namespace lb::control {
namespace {

launch_info of(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return launch_info_of(static_cast<int>(argv.size()), argv.data());
}

TEST(LaunchInfo, KeepsTheArgumentsAndMakesThePathAbsolute) {
  const auto how = of({"./bin/lb", "--config", "lb.yaml"});
  EXPECT_EQ(how.argv, (std::vector<std::string>{"./bin/lb", "--config", "lb.yaml"}));
  EXPECT_TRUE(std::filesystem::path(how.exe).is_absolute());
  EXPECT_EQ(std::filesystem::path(how.exe).filename(), "lb");
}

TEST(LaunchInfo, FindsABareNameInPath) {
  const auto how = of({"sh", "-c", "true"});
  ASSERT_FALSE(how.exe.empty());
  EXPECT_TRUE(std::filesystem::path(how.exe).is_absolute());
  EXPECT_EQ(::access(how.exe.c_str(), X_OK), 0);
  EXPECT_TRUE(of({"no-such-lb-binary-anywhere"}).exe.empty());
}

TEST(Upgrade, AMissingBinaryIsRefusedAtOnce) {
  boost::asio::io_context io;
  bool called = false;
  upgrade u(io, [&](const upgrade::outcome&) { called = true; });
  std::string error;
  EXPECT_EQ(u.start({"/nonexistent/lb", {"/nonexistent/lb"}}, {}, std::chrono::seconds(1), error), 0);
  EXPECT_NE(error.find("No such file"), std::string::npos) << error;
  EXPECT_FALSE(u.in_progress());
  EXPECT_EQ(u.start({"", {"lb"}}, {}, std::chrono::seconds(1), error), 0);
  EXPECT_FALSE(error.empty());
  io.run();
  EXPECT_FALSE(called);  // nothing started, so nothing to report
}

TEST(Upgrade, ANewProcessThatExitsBeforeReadyFails) {
  boost::asio::io_context io;
  upgrade::outcome got;
  int calls = 0;
  upgrade u(io, [&](const upgrade::outcome& o) {
    got = o;
    ++calls;
  });
  std::string error;
  const pid_t pid = u.start({"/bin/sh", {"sh", "-c", "exit 3"}}, {}, std::chrono::seconds(5), error);
  ASSERT_GT(pid, 0) << error;
  EXPECT_TRUE(u.in_progress());
  io.run();  // the channel closes when it exits
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(got.ok);
  EXPECT_EQ(got.pid, pid);
  EXPECT_NE(got.reason.find("before it was ready"), std::string::npos) << got.reason;
  u.reap();
  EXPECT_FALSE(u.in_progress());
}

}  // namespace
}  // namespace lb::control
