#include "lb/proto/http/head_scan.h"

#include <gtest/gtest.h>

#include <string>

namespace lb::proto::http {
namespace {

using state = head_scanner::state;

state scan_all(std::string_view s, std::size_t* len = nullptr) {
  head_scanner sc;
  auto st = sc.scan(s);
  if (len) *len = sc.length();
  return st;
}

TEST(head_scan, complete_head_length_excludes_body) {
  std::size_t len = 0;
  const std::string head = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  EXPECT_EQ(scan_all(head + "BODY", &len), state::complete);
  EXPECT_EQ(len, head.size());
}

TEST(head_scan, byte_by_byte_matches_whole) {
  const std::string head = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc";
  head_scanner sc;
  state st = state::need_more;
  std::size_t fed = 0;
  while (st == state::need_more && fed < head.size()) st = sc.scan(std::string_view(head).substr(0, ++fed));
  EXPECT_EQ(st, state::complete);
  EXPECT_EQ(sc.length(), head.size() - 3);
}

TEST(head_scan, incomplete_needs_more) {
  EXPECT_EQ(scan_all("GET / HTTP/1.1\r\nHost: a\r\n"), state::need_more);
  EXPECT_EQ(scan_all("GET / HTTP/1.1\r\nHost: a\r\n\r"), state::need_more);
  EXPECT_EQ(scan_all("GET / HTTP/1.1\r"), state::need_more);
}

TEST(head_scan, obs_fold_rejected) {
  EXPECT_EQ(scan_all("GET / HTTP/1.1\r\nX-A: 1\r\n continued\r\n\r\n"), state::malformed);
  EXPECT_EQ(scan_all("GET / HTTP/1.1\r\nX-A: 1\r\n\tcontinued\r\n\r\n"), state::malformed);
}

TEST(head_scan, bare_cr_rejected_even_when_split_across_reads) {
  EXPECT_EQ(scan_all("GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n"), state::malformed);
  head_scanner sc;
  const std::string head = "GET / HTTP/1.1\r\nX-A: a\r";
  EXPECT_EQ(sc.scan(head), state::need_more);
  EXPECT_NE(sc.scan(head + "b\r\n\r\n"), state::complete);
}

TEST(head_scan, bare_lf_rejected) {
  EXPECT_EQ(scan_all("GET / HTTP/1.1\nHost: a\n\n"), state::malformed);
  EXPECT_EQ(scan_all("GET / HTTP/1.1\r\nHost: a\n\r\n"), state::malformed);
}

TEST(head_scan, nul_rejected) {
  EXPECT_EQ(scan_all(std::string("GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n", 29)), state::malformed);
}

TEST(head_scan, reset_starts_over) {
  head_scanner sc;
  EXPECT_EQ(sc.scan("GET / HTTP/1.1\r\n\r\n"), state::complete);
  sc.reset();
  EXPECT_EQ(sc.scan("GET /longer HTTP/1.1\r\n"), state::need_more);
}

TEST(head_scan, leading_empty_lines) {
  EXPECT_EQ(leading_empty_lines("\r\n\r\nGET"), 4u);
  EXPECT_EQ(leading_empty_lines("GET"), 0u);
  EXPECT_EQ(leading_empty_lines("\r\n\r"), 2u);
}

}  // namespace
}  // namespace lb::proto::http
