#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "lb/accesslog/access_log.h"

namespace lb::accesslog {
namespace {

// Keeps what it is given, in order.
class fake_sink final : public sink {
 public:
  void submit(std::string&& lines) override { submits.push_back(std::move(lines)); }
  void reopen() override {}
  void close() override {}
  std::uint64_t dropped() const override { return 0; }

  std::string all() const {
    std::string s;
    for (const auto& b : submits) s += b;
    return s;
  }
  std::vector<std::string> submits;
};

record numbered(int i, std::string& path_storage) {
  path_storage = "/item/" + std::to_string(i);
  record r;
  r.start_unix_us = 1714566896000000 + i;
  r.listener = "web";
  r.client = "198.51.100.1";
  r.method = "GET";
  r.path = path_storage;
  r.status = 200;
  r.attempts = 1;
  return r;
}

std::string line_of(const record& r) {
  std::string s;
  format(s, r);
  return s;
}

TEST(accesslog_writer, hands_off_when_the_buffer_reaches_64k) {
  auto s = std::make_shared<fake_sink>();
  writer w(s);
  std::string expected, pending, storage;
  std::size_t longest = 0;
  int i = 0;
  // Until the third hand-off: each happens on the append that takes the
  // buffer to 64 KiB or more, and not before.
  while (s->submits.size() < 3) {
    const record r = numbered(i++, storage);
    const std::string line = line_of(r);
    longest = std::max(longest, line.size());
    expected += line;
    pending += line;
    const std::size_t before = s->submits.size();
    w.append(r);
    if (pending.size() >= 64 * 1024) {
      ASSERT_EQ(s->submits.size(), before + 1) << "no hand-off at " << pending.size() << " bytes";
      EXPECT_EQ(s->submits.back(), pending);
      pending.clear();
    } else {
      ASSERT_EQ(s->submits.size(), before) << "early hand-off at " << pending.size() << " bytes";
    }
  }
  for (const auto& b : s->submits) {
    EXPECT_GE(b.size(), 64u * 1024);
    EXPECT_LT(b.size(), 64u * 1024 + longest);  // overshoots by less than one line
    EXPECT_EQ(b.back(), '\n');
  }
  // The buffer keeps working after each hand-off.
  w.append(numbered(i, storage));
  expected += line_of(numbered(i, storage));
  w.flush();
  EXPECT_EQ(s->submits.size(), 4u);
  EXPECT_EQ(s->all(), expected);
}

TEST(accesslog_writer, flush_submits_only_when_non_empty) {
  auto s = std::make_shared<fake_sink>();
  writer w(s);
  w.flush();
  EXPECT_TRUE(s->submits.empty());

  std::string storage;
  w.append(numbered(1, storage));
  w.append(numbered(2, storage));
  w.flush();
  ASSERT_EQ(s->submits.size(), 1u);
  EXPECT_EQ(s->submits[0], line_of(numbered(1, storage)) + line_of(numbered(2, storage)));
  w.flush();
  EXPECT_EQ(s->submits.size(), 1u);

  w.append(numbered(3, storage));
  w.flush();
  ASSERT_EQ(s->submits.size(), 2u);
  EXPECT_EQ(s->submits[1], line_of(numbered(3, storage)));
}

TEST(accesslog_writer, flush_of_a_large_buffer) {
  auto s = std::make_shared<fake_sink>();
  writer w(s);
  std::string expected, storage;
  for (int i = 0; expected.size() < 40 * 1024; ++i) {
    w.append(numbered(i, storage));
    expected += line_of(numbered(i, storage));
  }
  EXPECT_TRUE(s->submits.empty());
  w.flush();
  ASSERT_EQ(s->submits.size(), 1u);
  EXPECT_EQ(s->submits[0], expected);
  w.append(numbered(7, storage));
  w.flush();
  ASSERT_EQ(s->submits.size(), 2u);
  EXPECT_EQ(s->submits[1], line_of(numbered(7, storage)));
}

TEST(accesslog_writer, destructor_flushes) {
  auto s = std::make_shared<fake_sink>();
  std::string storage;
  {
    writer w(s);
    w.append(numbered(1, storage));
    EXPECT_TRUE(s->submits.empty());
  }
  ASSERT_EQ(s->submits.size(), 1u);
  EXPECT_EQ(s->submits[0], line_of(numbered(1, storage)));
}

TEST(accesslog_writer, without_a_sink_does_nothing) {
  writer w(nullptr);
  std::string storage;
  w.append(numbered(1, storage));
  w.flush();
}

}  // namespace
}  // namespace lb::accesslog
