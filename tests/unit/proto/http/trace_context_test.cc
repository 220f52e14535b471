// trace_context.cc: traceparent validation (W3C Trace Context level 1 §3.2),
// request-ID acceptance, the IDs lb makes, and the per-request decision.
#include "lb/proto/http/trace_context.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "tests/unit/alloc_count.h"

namespace lb::proto::http {
namespace {

const std::string valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(traceparent, valid_version_00_gives_its_trace_id) {
  EXPECT_EQ(traceparent_trace_id(valid), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(traceparent_trace_id("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"),
            "4bf92f3577b34da6a3ce929d0e0e4736");  // not sampled is still valid
  EXPECT_EQ(traceparent_trace_id("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff"),
            "4bf92f3577b34da6a3ce929d0e0e4736");  // unknown flags are ignored, not refused
}

TEST(traceparent, malformed_values_are_refused) {
  for (const std::string& bad : {
           std::string(),
           std::string("garbage"),
           valid.substr(0, 54),                                                // short
           valid + "-",                                                        // version 00 is exactly 55
           valid + "-extra",                                                   // ... even with a '-'
           std::string("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"),  // upper case
           std::string("00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01"),
           std::string("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),  // all-zero trace-id
           std::string("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"),  // all-zero parent-id
           std::string("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),  // version ff
           std::string("0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),  // version not hex
           std::string("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),  // separators
           std::string("00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01"),
           std::string("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01"),
           std::string("00-4bf92f3577b34da6a3ce929d0e0e473z-00f067aa0ba902b7-01"),  // not hex
           std::string("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x"),
           std::string(" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0"),  // shifted
           std::string("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x"),  // later version, no '-'
       })
    EXPECT_EQ(traceparent_trace_id(bad), "") << bad;
}

TEST(traceparent, later_versions_are_read_by_their_first_55_characters) {
  EXPECT_EQ(traceparent_trace_id("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(traceparent_trace_id("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds"),
            "4bf92f3577b34da6a3ce929d0e0e4736");
}

TEST(request_id, acceptable_values) {
  EXPECT_TRUE(acceptable_request_id("abc-123"));
  EXPECT_TRUE(acceptable_request_id("6f1c3a52-9d7e-4b7a-8c1e-2f0d9a4b5c61"));
  EXPECT_TRUE(acceptable_request_id(std::string(128, 'x')));
  EXPECT_FALSE(acceptable_request_id(""));
  EXPECT_FALSE(acceptable_request_id(std::string(129, 'x')));
  EXPECT_FALSE(acceptable_request_id("a b"));
  EXPECT_FALSE(acceptable_request_id("a\tb"));
  EXPECT_FALSE(acceptable_request_id("a\"b"));
  EXPECT_FALSE(acceptable_request_id("a\\b"));
  EXPECT_FALSE(acceptable_request_id("caf\xc3\xa9"));
}

bool is_uuid4(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash != (s[i] == '-')) return false;
    if (!dash && !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
  }
  return s[14] == '4' && (s[19] == '8' || s[19] == '9' || s[19] == 'a' || s[19] == 'b');
}

TEST(request_id, generated_ids_are_uuid4_and_distinct) {
  fast_rng rng;
  std::set<std::string> seen;
  for (int i = 0; i < 10000; ++i) {
    char buf[uuid_size];
    write_uuid4(rng, buf);
    const std::string id(buf, uuid_size);
    ASSERT_TRUE(is_uuid4(id)) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 10000u);
}

TEST(traceparent, generated_ones_are_valid_and_carry_the_sampled_flag) {
  fast_rng rng(42);
  char buf[traceparent_size];
  for (int i = 0; i < 1000; ++i) {
    write_traceparent(rng, i % 2 == 0, buf);
    const std::string_view tp(buf, traceparent_size);
    ASSERT_EQ(traceparent_trace_id(tp), tp.substr(3, 32)) << tp;
    EXPECT_EQ(tp.substr(53), i % 2 == 0 ? "01" : "00");
  }
}

TEST(traceparent, seed_zero_still_makes_valid_ids) {
  fast_rng rng(0);
  char buf[traceparent_size];
  write_traceparent(rng, true, buf);
  EXPECT_NE(traceparent_trace_id({buf, traceparent_size}), "");
}

config::listener with(bool rid, std::vector<config::cidr> trust, bool tracing, bool start) {
  config::listener l;
  l.request_id.enabled = rid;
  l.request_id.trust_from = std::move(trust);
  l.tracing.enabled = tracing;
  l.tracing.start = start;
  return l;
}

config::cidr any_v4() { return config::cidr{}; }  // 0.0.0.0/0

TEST(decide_ids, generates_when_absent_and_replaces_untrusted) {
  fast_rng rng(1);
  const auto l = with(true, {any_v4()}, false, false);
  trace_ids ids;
  incoming_trace in;
  decide_ids(ids, l, in, rng, [] { return true; });
  EXPECT_TRUE(is_uuid4(ids.request_id));
  EXPECT_TRUE(ids.own_request_id);

  ids.reset();
  in.see("X-Request-Id", "client-chosen");
  decide_ids(ids, l, in, rng, [] { return false; });  // not from a trusted peer
  EXPECT_TRUE(is_uuid4(ids.request_id));
  EXPECT_TRUE(ids.own_request_id);
  EXPECT_TRUE(replaced_trace_field("x-request-id", ids));
}

TEST(decide_ids, keeps_a_trusted_clients_id_only_when_single_and_acceptable) {
  fast_rng rng(1);
  const auto l = with(true, {any_v4()}, false, false);
  {
    trace_ids ids;
    incoming_trace in;
    in.see("x-request-id", "abc-123");
    decide_ids(ids, l, in, rng, [] { return true; });
    EXPECT_EQ(ids.request_id, "abc-123");
    EXPECT_FALSE(ids.own_request_id);  // passes upstream where it was
    EXPECT_FALSE(replaced_trace_field("X-Request-Id", ids));
  }
  {
    trace_ids ids;
    incoming_trace in;
    in.see("X-Request-ID", "one");
    in.see("x-request-id", "two");
    decide_ids(ids, l, in, rng, [] { return true; });
    EXPECT_TRUE(ids.own_request_id) << "two IDs: neither is kept";
  }
  {
    trace_ids ids;
    incoming_trace in;
    in.see("X-Request-Id", "has space");
    decide_ids(ids, l, in, rng, [] { return true; });
    EXPECT_TRUE(ids.own_request_id);
  }
  {
    // Without trust_from, trusted() is not even asked.
    trace_ids ids;
    incoming_trace in;
    in.see("X-Request-Id", "abc");
    bool asked = false;
    decide_ids(ids, with(true, {}, false, false), in, rng, [&] { return asked = true; });
    EXPECT_FALSE(asked);
    EXPECT_TRUE(ids.own_request_id);
  }
}

TEST(decide_ids, valid_traceparent_passes_untouched) {
  fast_rng rng(1);
  trace_ids ids;
  incoming_trace in;
  in.see("traceparent", valid);
  decide_ids(ids, with(false, {}, true, true), in, rng, [] { return false; });
  EXPECT_EQ(ids.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_TRUE(ids.traceparent.empty());
  EXPECT_FALSE(ids.drop_trace);
  EXPECT_TRUE(ids.request_id.empty());  // request_id off
  EXPECT_FALSE(replaced_trace_field("tracestate", ids));
}

TEST(decide_ids, malformed_traceparent_is_replaced_with_start_and_dropped_without) {
  fast_rng rng(1);
  {
    trace_ids ids;
    incoming_trace in;
    in.see("Traceparent", "00-nonsense");
    decide_ids(ids, with(false, {}, true, true), in, rng, [] { return false; });
    EXPECT_EQ(ids.traceparent.size(), traceparent_size);
    EXPECT_EQ(ids.trace_id, ids.traceparent.substr(3, 32));
    EXPECT_TRUE(replaced_trace_field("traceparent", ids));
    EXPECT_TRUE(replaced_trace_field("TraceState", ids));  // belongs to the dropped trace
  }
  {
    trace_ids ids;
    incoming_trace in;
    in.see("traceparent", "00-nonsense");
    decide_ids(ids, with(false, {}, true, false), in, rng, [] { return false; });
    EXPECT_TRUE(ids.traceparent.empty());
    EXPECT_TRUE(ids.trace_id.empty());
    EXPECT_TRUE(replaced_trace_field("traceparent", ids));
    EXPECT_TRUE(replaced_trace_field("tracestate", ids));
  }
  {
    // Two traceparent fields: which one is meant is unknown.
    trace_ids ids;
    incoming_trace in;
    in.see("traceparent", valid);
    in.see("traceparent", valid);
    decide_ids(ids, with(false, {}, true, false), in, rng, [] { return false; });
    EXPECT_TRUE(ids.drop_trace);
    EXPECT_TRUE(ids.trace_id.empty());
  }
}

TEST(decide_ids, start_when_absent_only_with_start) {
  fast_rng rng(1);
  {
    trace_ids ids;
    decide_ids(ids, with(false, {}, true, true), incoming_trace{}, rng, [] { return false; });
    EXPECT_EQ(ids.trace_id.size(), 32u);
    EXPECT_EQ(ids.traceparent.substr(53), "01");
  }
  {
    trace_ids ids;
    decide_ids(ids, with(false, {}, true, false), incoming_trace{}, rng, [] { return false; });
    EXPECT_TRUE(ids.trace_id.empty());
    EXPECT_FALSE(ids.drop_trace);  // nothing to drop: a lone tracestate passes
  }
}

TEST(decide_ids, appends_what_lb_writes) {
  fast_rng rng(7);
  trace_ids ids;
  decide_ids(ids, with(true, {}, true, true), incoming_trace{}, rng, [] { return false; });
  std::string out;
  append_trace_fields(out, ids);
  EXPECT_EQ(out, "X-Request-Id: " + std::string(ids.request_id) + "\r\ntraceparent: " + std::string(ids.traceparent) +
                     "\r\n");
}

TEST(decide_ids, allocates_nothing) {
  if (!LB_COUNT_ALLOCATIONS) GTEST_SKIP() << "allocation counting is off under ASan";
  fast_rng rng(3);
  const auto l = with(true, {any_v4()}, true, true);
  trace_ids ids;
  incoming_trace in;
  in.see("traceparent", "bad");
  in.see("x-request-id", "abc");
  const auto before = test::allocations();
  for (int i = 0; i < 100; ++i) {
    ids.reset();
    decide_ids(ids, l, in, rng, [i] { return i % 2 == 0; });
  }
  EXPECT_EQ(test::allocations(), before);
}

}  // namespace
}  // namespace lb::proto::http
