#include "lb/proto/proxy/header.h"

#include <gtest/gtest.h>

#include <string>

namespace lb::proto::proxy {
namespace {

namespace ip = boost::asio::ip;

endpoint ep(const char* a, std::uint16_t port) { return endpoint(ip::make_address(a), port); }

const std::string v2_sig("\r\n\r\n\0\r\nQUIT\n", 12);

// A v2 header from its parts (length computed).
std::string v2(unsigned char ver_cmd, unsigned char fam, const std::string& body) {
  std::string out = v2_sig;
  out += static_cast<char>(ver_cmd);
  out += static_cast<char>(fam);
  out += static_cast<char>(body.size() >> 8);
  out += static_cast<char>(body.size() & 0xFF);
  return out + body;
}

TEST(proxy_v1, reads_tcp4_and_reports_its_length) {
  header h;
  const std::string line = "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n";
  const auto r = parse(line + "GET / HTTP/1.1\r\n", h);
  ASSERT_EQ(r.status, parse_status::complete);
  EXPECT_EQ(r.length, line.size());
  EXPECT_FALSE(h.local);
  EXPECT_EQ(h.source, ep("192.0.2.7", 56324));
  EXPECT_EQ(h.destination, ep("198.51.100.1", 443));
}

TEST(proxy_v1, reads_tcp6_and_unknown) {
  header h;
  ASSERT_EQ(parse("PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n", h).status, parse_status::complete);
  EXPECT_EQ(h.source, ep("2001:db8::1", 1));
  EXPECT_EQ(h.destination, ep("2001:db8::2", 65535));
  ASSERT_EQ(parse("PROXY UNKNOWN whatever follows\r\n", h).status, parse_status::complete);
  EXPECT_TRUE(h.local);
}

TEST(proxy_v1, waits_for_the_rest_of_a_prefix) {
  header h;
  for (const char* part : {"P", "PROX", "PROXY ", "PROXY TCP4 192.0.2.7 198.51", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r"})
    EXPECT_EQ(parse(part, h).status, parse_status::need_more) << part;
}

TEST(proxy_v1, refuses_malformed_lines) {
  header h;
  for (const char* bad : {
           "GET / HTTP/1.1\r\n",
           "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
           "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
           "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
           "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
           "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
           "PROXY TCP4 2001:db8::1 5.6.7.8 1 2\r\n",
           "PROXY TCP6 1.2.3.4 2001:db8::2 1 2\r\n",
           "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
           "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
           "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
           // Found by tests/fuzz/proxy_header: a zone was taken as a scope id.
           "PROXY TCP6 2001:db8::1 ::%1 1 65535\r\n",
           "PROXY TCP6 fe80::1%lo ::1 1 2\r\n",
       })
    EXPECT_EQ(parse(bad, h).status, parse_status::malformed) << bad;
  // No CRLF within 107 bytes: longer than any v1 line may be.
  EXPECT_EQ(parse("PROXY TCP4 " + std::string(120, '1'), h).status, parse_status::malformed);
}

TEST(proxy_v2, reads_ipv4_with_tlvs) {
  std::string body{'\xC0', '\x00', '\x02', '\x07', '\xC6', '\x33', '\x64', '\x01', '\xDC', '\x04', '\x01', '\xBB'};
  body += std::string{'\x02', '\x00', '\x0B'} + "example.com";
  body += std::string{'\x01', '\x00', '\x02'} + "h2";
  header h;
  const auto wire = v2(0x21, 0x11, body);
  const auto r = parse(wire + "payload", h);
  ASSERT_EQ(r.status, parse_status::complete);
  EXPECT_EQ(r.length, wire.size());
  EXPECT_EQ(h.source, ep("192.0.2.7", 56324));
  EXPECT_EQ(h.destination, ep("198.51.100.1", 443));
  ASSERT_EQ(h.tlvs.size(), 2u);
  EXPECT_EQ(h.tlvs[0].type, tlv_authority);
  EXPECT_EQ(h.tlvs[0].value, "example.com");
  EXPECT_EQ(h.tlvs[1].type, tlv_alpn);
  EXPECT_EQ(h.tlvs[1].value, "h2");
}

TEST(proxy_v2, local_command_and_unspec_keep_the_connection_addresses) {
  header h;
  ASSERT_EQ(parse(v2(0x20, 0x00, ""), h).status, parse_status::complete);
  EXPECT_TRUE(h.local);
  ASSERT_EQ(parse(v2(0x21, 0x00, ""), h).status, parse_status::complete);
  EXPECT_TRUE(h.local);
  // UDP over IPv4: not a TCP client address lb could use.
  ASSERT_EQ(parse(v2(0x21, 0x12, std::string(12, '\0')), h).status, parse_status::complete);
  EXPECT_TRUE(h.local);
}

TEST(proxy_v2, waits_for_a_header_split_anywhere) {
  std::string wire;
  write_v2(wire, ep("2001:db8::7", 40000), ep("2001:db8::1", 443), std::vector<tlv>{{tlv_alpn, "http/1.1"}});
  header h;
  for (std::size_t n = 1; n < wire.size(); ++n)
    EXPECT_EQ(parse(wire.substr(0, n), h).status, parse_status::need_more) << n;
  ASSERT_EQ(parse(wire, h).status, parse_status::complete);
  EXPECT_EQ(h.source, ep("2001:db8::7", 40000));
}

TEST(proxy_v2, refuses_bad_version_command_family_and_framing) {
  header h;
  EXPECT_EQ(parse(v2(0x11, 0x11, std::string(12, '\0')), h).status, parse_status::malformed);  // version 1
  EXPECT_EQ(parse(v2(0x22, 0x11, std::string(12, '\0')), h).status, parse_status::malformed);  // command 2
  EXPECT_EQ(parse(v2(0x21, 0x41, std::string(12, '\0')), h).status, parse_status::malformed);  // family 4
  EXPECT_EQ(parse(v2(0x21, 0x11, std::string(11, '\0')), h).status, parse_status::malformed);  // short addresses
  EXPECT_EQ(parse(v2(0x21, 0x21, std::string(12, '\0')), h).status, parse_status::malformed);  // short IPv6
  // A TLV running past the end, and a stray byte after the last one.
  EXPECT_EQ(parse(v2(0x21, 0x11, std::string(12, '\0') + std::string{'\x01', '\x00', '\x05'} + "ab"), h).status,
            parse_status::malformed);
  EXPECT_EQ(parse(v2(0x21, 0x11, std::string(12, '\0') + "x"), h).status, parse_status::malformed);
  // Longer than lb buffers.
  EXPECT_EQ(parse(v2(0x21, 0x11, std::string(max_header_size, '\0')), h).status, parse_status::malformed);
}

TEST(proxy_signature, tells_headers_partial_prefixes_and_other_bytes) {
  EXPECT_EQ(starts_like_header("PROXY TCP4"), signature::yes);
  EXPECT_EQ(starts_like_header(v2_sig + "!"), signature::yes);
  EXPECT_EQ(starts_like_header("PRO"), signature::partial);
  EXPECT_EQ(starts_like_header("\r\n\r\n"), signature::partial);
  EXPECT_EQ(starts_like_header("GET / HTTP/1.1"), signature::no);
  EXPECT_EQ(starts_like_header("\r\n\r\nX"), signature::no);
  EXPECT_EQ(starts_like_header("PROXX"), signature::no);
}

TEST(proxy_write, v1_lines) {
  std::string out;
  write_v1(out, ep("192.0.2.7", 56324), ep("198.51.100.1", 443));
  EXPECT_EQ(out, "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n");
  out.clear();
  // Mixed families are written as TCP6 with the IPv4 end mapped.
  write_v1(out, ep("192.0.2.7", 1), ep("2001:db8::1", 2));
  EXPECT_EQ(out, "PROXY TCP6 ::ffff:192.0.2.7 2001:db8::1 1 2\r\n");
}

TEST(proxy_write, v2_round_trips_through_parse) {
  std::string out;
  const std::vector<tlv> tlvs{{tlv_alpn, "h2"}, {tlv_authority, "db.example.com"}, {0xE0, std::string("\0\1", 2)}};
  write_v2(out, ep("192.0.2.7", 56324), ep("198.51.100.1", 5432), tlvs);
  EXPECT_EQ(out.substr(0, 12), v2_sig);
  EXPECT_EQ(static_cast<unsigned char>(out[12]), 0x21);
  EXPECT_EQ(static_cast<unsigned char>(out[13]), 0x11);
  header h;
  const auto r = parse(out, h);
  ASSERT_EQ(r.status, parse_status::complete);
  EXPECT_EQ(r.length, out.size());
  EXPECT_EQ(h.source, ep("192.0.2.7", 56324));
  EXPECT_EQ(h.destination, ep("198.51.100.1", 5432));
  ASSERT_EQ(h.tlvs.size(), 3u);
  for (std::size_t i = 0; i < tlvs.size(); ++i) {
    EXPECT_EQ(h.tlvs[i].type, tlvs[i].type);
    EXPECT_EQ(h.tlvs[i].value, tlvs[i].value);
  }
}

}  // namespace
}  // namespace lb::proto::proxy
