#include "lb/kube/lease.h"

#include <gtest/gtest.h>

namespace lb::kube {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

wall_time at(std::string_view text) {
  const auto t = parse_time(text);
  EXPECT_TRUE(t) << text;
  return t.value_or(wall_time{});
}

TEST(kube_lease, micro_time_round_trips_and_accepts_rfc3339_variants) {
  const auto t = at("2024-05-01T12:00:00.123456Z");
  EXPECT_EQ(format_micro_time(t), "2024-05-01T12:00:00.123456Z");
  EXPECT_EQ(format_micro_time(at("2024-05-01T12:00:00Z")), "2024-05-01T12:00:00.000000Z");
  EXPECT_EQ(format_micro_time(at("2024-05-01T14:00:00.5+02:00")), "2024-05-01T12:00:00.500000Z");
  EXPECT_EQ(format_micro_time(at("2024-05-01T11:30:00.123456789-00:30")), "2024-05-01T12:00:00.123456Z");
  for (const char* bad : {"", "2024-05-01", "2024-05-01T12:00:00", "2024-05-01T12:00:00.Z", "2024-13-01T12:00:00Z",
                          "2024-05-01T12:00:00Zjunk", "2024-05-01 12:00:00Z"})
    EXPECT_FALSE(parse_time(bad)) << bad;
}

TEST(kube_lease, parses_a_lease_and_tolerates_missing_fields) {
  lease_record r;
  std::string why;
  ASSERT_TRUE(parse_lease(json::parse(R"({"metadata":{"name":"l","resourceVersion":"42"},
      "spec":{"holderIdentity":"pod-a","leaseDurationSeconds":15,"acquireTime":"2024-05-01T12:00:00.000000Z",
              "renewTime":"2024-05-01T12:00:10.000000Z","leaseTransitions":3}})"),
                          r, why))
      << why;
  EXPECT_EQ(r.holder, "pod-a");
  EXPECT_EQ(r.duration, 15s);
  EXPECT_EQ(r.transitions, 3);
  EXPECT_EQ(r.resource_version, "42");
  EXPECT_EQ(*r.renew_time, at("2024-05-01T12:00:10Z"));

  ASSERT_TRUE(parse_lease(json::parse(R"({"metadata":{"resourceVersion":"1"},"spec":{}})"), r, why));
  EXPECT_TRUE(r.holder.empty());
  EXPECT_FALSE(r.renew_time);
  EXPECT_FALSE(parse_lease(json::parse(R"({"spec":{"holderIdentity":3}})"), r, why));
  EXPECT_FALSE(parse_lease(json::parse(R"({"spec":{"renewTime":"yesterday"}})"), r, why));
  EXPECT_NE(why.find("renewTime"), std::string::npos);
}

TEST(kube_lease, expires_at_renew_time_plus_duration) {
  lease_record r;
  r.holder = "pod-a";
  r.duration = 15s;
  r.renew_time = at("2024-05-01T12:00:00Z");
  EXPECT_FALSE(lease_expired(r, at("2024-05-01T12:00:14.999999Z")));
  EXPECT_TRUE(lease_expired(r, at("2024-05-01T12:00:15Z")));
  // A clock behind the holder's: not expired yet.
  EXPECT_FALSE(lease_expired(r, at("2024-05-01T11:59:00Z")));
  r.holder.clear();  // released
  EXPECT_TRUE(lease_expired(r, at("2024-05-01T12:00:01Z")));
  r.holder = "pod-a";
  r.renew_time.reset();
  EXPECT_TRUE(lease_expired(r, at("2024-05-01T12:00:01Z")));
}

TEST(kube_lease, take_renews_or_counts_a_transition_and_release_frees) {
  const auto t0 = at("2024-05-01T12:00:00Z"), t1 = at("2024-05-01T12:00:02Z");
  auto first = take_lease(std::nullopt, "pod-a", 15s, t0);
  EXPECT_EQ(first.holder, "pod-a");
  EXPECT_EQ(first.transitions, 0);
  EXPECT_TRUE(first.resource_version.empty());
  first.resource_version = "7";

  const auto renewed = take_lease(first, "pod-a", 15s, t1);
  EXPECT_EQ(*renewed.acquire_time, t0);
  EXPECT_EQ(*renewed.renew_time, t1);
  EXPECT_EQ(renewed.transitions, 0);
  EXPECT_EQ(renewed.resource_version, "7");

  const auto taken = take_lease(first, "pod-b", 15s, t1);
  EXPECT_EQ(taken.holder, "pod-b");
  EXPECT_EQ(*taken.acquire_time, t1);
  EXPECT_EQ(taken.transitions, 1);

  const auto released = release_lease(renewed, t1);
  EXPECT_TRUE(released.holder.empty());
  EXPECT_EQ(released.duration, 1s);
  EXPECT_EQ(released.resource_version, "7");
  EXPECT_TRUE(lease_expired(released, t1));
}

TEST(kube_lease, object_carries_the_version_only_for_an_update) {
  auto r = take_lease(std::nullopt, "pod-a", 15s, at("2024-05-01T12:00:00Z"));
  auto obj = lease_object("lb", "leader", r);
  EXPECT_EQ(obj["apiVersion"], "coordination.k8s.io/v1");
  EXPECT_EQ(obj["kind"], "Lease");
  EXPECT_EQ(obj["metadata"]["namespace"], "lb");
  EXPECT_FALSE(obj["metadata"].contains("resourceVersion"));
  EXPECT_EQ(obj["spec"]["holderIdentity"], "pod-a");
  EXPECT_EQ(obj["spec"]["leaseDurationSeconds"], 15);
  EXPECT_EQ(obj["spec"]["renewTime"], "2024-05-01T12:00:00.000000Z");
  r.resource_version = "9";
  obj = lease_object("lb", "leader", r);
  EXPECT_EQ(obj["metadata"]["resourceVersion"], "9");
  lease_record back;
  std::string why;
  ASSERT_TRUE(parse_lease(obj, back, why)) << why;
  EXPECT_EQ(back.holder, r.holder);
  EXPECT_EQ(back.renew_time, r.renew_time);
}

}  // namespace
}  // namespace lb::kube
