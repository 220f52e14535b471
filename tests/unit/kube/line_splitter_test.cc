#include "lb/kube/line_splitter.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace lb::kube {
namespace {

struct collect {
  std::vector<std::string> lines;
  std::function<void(std::string_view)> fn() {
    return [this](std::string_view l) { lines.emplace_back(l); };
  }
};

TEST(kube_line_splitter, lines_split_across_pieces_are_joined) {
  line_splitter s(100);
  collect c;
  ASSERT_TRUE(s.feed("{\"a\":1}\n{\"b\"", c.fn()));
  EXPECT_EQ(c.lines, (std::vector<std::string>{"{\"a\":1}"}));
  EXPECT_EQ(s.pending(), 4u);
  ASSERT_TRUE(s.feed(":2}", c.fn()));
  ASSERT_TRUE(s.feed("\n\n  \r\n{\"c\":3}\n", c.fn()));
  EXPECT_EQ(c.lines, (std::vector<std::string>{"{\"a\":1}", "{\"b\":2}", "{\"c\":3}"}));
  EXPECT_EQ(s.pending(), 0u);
}

TEST(kube_line_splitter, one_byte_at_a_time) {
  line_splitter s(100);
  collect c;
  for (const char ch : std::string("ab\ncd\n")) ASSERT_TRUE(s.feed(std::string_view(&ch, 1), c.fn()));
  EXPECT_EQ(c.lines, (std::vector<std::string>{"ab", "cd"}));
}

TEST(kube_line_splitter, a_line_over_the_limit_fails_whole_or_in_pieces) {
  collect c;
  line_splitter whole(8);
  EXPECT_TRUE(whole.feed("12345678\n", c.fn()));
  EXPECT_FALSE(whole.feed("123456789\n", c.fn()));
  line_splitter pieces(8);
  EXPECT_TRUE(pieces.feed("12345", c.fn()));
  EXPECT_FALSE(pieces.feed("6789", c.fn()));
  EXPECT_EQ(pieces.pending(), 0u);  // nothing held after the failure
  EXPECT_EQ(c.lines, (std::vector<std::string>{"12345678"}));
}

}  // namespace
}  // namespace lb::kube
