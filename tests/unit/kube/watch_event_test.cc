#include "lb/kube/watch_event.h"

#include <gtest/gtest.h>

namespace lb::kube {
namespace {

TEST(kube_watch_event, decodes_changes_bookmarks_and_errors) {
  watch_event ev;
  std::string why;
  ASSERT_TRUE(parse_watch_line(
      R"({"type":"MODIFIED","object":{"kind":"Service","metadata":{"name":"web","resourceVersion":"42"}}})", ev, why))
      << why;
  EXPECT_EQ(ev.type, event_type::modified);
  EXPECT_EQ(ev.resource_version, "42");
  EXPECT_EQ(ev.object["metadata"]["name"], "web");

  ASSERT_TRUE(parse_watch_line(R"({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"50"}}})", ev, why));
  EXPECT_EQ(ev.type, event_type::bookmark);
  EXPECT_EQ(ev.resource_version, "50");

  ASSERT_TRUE(parse_watch_line(
      R"({"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired","message":"too old resource version"}})",
      ev, why));
  EXPECT_EQ(ev.type, event_type::error);
  EXPECT_EQ(ev.code, 410);
  EXPECT_EQ(ev.message, "too old resource version");
}

TEST(kube_watch_event, refuses_what_is_not_an_event) {
  watch_event ev;
  std::string why;
  EXPECT_FALSE(parse_watch_line("not json", ev, why));
  EXPECT_FALSE(parse_watch_line("[1]", ev, why));
  EXPECT_FALSE(parse_watch_line(R"({"type":"ADDED"})", ev, why));
  EXPECT_FALSE(parse_watch_line(R"({"type":"SOMETHING","object":{}})", ev, why));
  EXPECT_FALSE(parse_watch_line(R"({"type":"ADDED","object":{"metadata":{}}})", ev, why));
  EXPECT_NE(why.find("resourceVersion"), std::string::npos);
}

TEST(kube_watch_event, status_message_of_a_status_or_raw_text) {
  EXPECT_EQ(status_message(R"({"kind":"Status","message":"Unauthorized","reason":"Unauthorized","code":401})"),
            "Unauthorized (Unauthorized)");
  EXPECT_EQ(status_message("plain text"), "plain text");
}

}  // namespace
}  // namespace lb::kube
