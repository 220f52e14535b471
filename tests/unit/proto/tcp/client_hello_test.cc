#include "lb/proto/tcp/client_hello.h"

#include <gtest/gtest.h>

#include <openssl/ssl.h>

#include <string>
#include <vector>

namespace lb::proto::tcp {
namespace {

std::string u16(std::size_t v) { return {static_cast<char>(v >> 8), static_cast<char>(v & 0xFF)}; }

std::string ext(std::uint16_t type, const std::string& data) { return u16(type) + u16(data.size()) + data; }

std::string sni_ext(const std::string& name) {
  const std::string entry = std::string(1, '\0') + u16(name.size()) + name;
  return ext(0, u16(entry.size()) + entry);
}

std::string alpn_ext(const std::vector<std::string>& protos) {
  std::string list;
  for (const auto& p : protos) list += static_cast<char>(p.size()) + p;
  return ext(16, u16(list.size()) + list);
}

// A ClientHello handshake message (header included) with `exts`.
std::string hello_msg(const std::string& exts) {
  std::string body = "\x03\x03" + std::string(32, 'r') + std::string(1, '\0');  // version, random, no session id
  body += u16(2) + "\x13\x01";                                                  // one cipher suite
  body += std::string("\x01\x00", 2);                                            // null compression
  body += u16(exts.size()) + exts;
  const std::size_t n = body.size();
  return std::string{'\x01', static_cast<char>(n >> 16), static_cast<char>(n >> 8 & 0xFF), static_cast<char>(n & 0xFF)} +
         body;
}

// `msg` in handshake records of at most `fragment` bytes each.
std::string records(const std::string& msg, std::size_t fragment = 16384) {
  std::string out;
  for (std::size_t at = 0; at < msg.size(); at += fragment) {
    const auto part = msg.substr(at, fragment);
    out += std::string("\x16\x03\x01", 3) + u16(part.size()) + part;
  }
  return out;
}

TEST(client_hello, reads_sni_and_alpn) {
  client_hello h;
  const auto wire = records(hello_msg(sni_ext("API.Example.com.") + alpn_ext({"h2", "http/1.1"})));
  ASSERT_EQ(parse_client_hello(wire, h), hello_status::complete);
  EXPECT_EQ(h.sni, "api.example.com");
  EXPECT_TRUE(h.offers("h2"));
  EXPECT_TRUE(h.offers("http/1.1"));
  EXPECT_FALSE(h.offers("h3"));
  EXPECT_EQ(h.wire_length, wire.size());
}

TEST(client_hello, every_prefix_is_incomplete) {
  const auto wire = records(hello_msg(sni_ext("a.example.com")), 100);
  for (std::size_t n = 0; n < wire.size(); ++n) {
    client_hello h;
    ASSERT_EQ(parse_client_hello(std::string_view(wire).substr(0, n), h), hello_status::incomplete) << n;
  }
  client_hello h;
  EXPECT_EQ(parse_client_hello(wire, h), hello_status::complete);
  EXPECT_EQ(h.sni, "a.example.com");
}

TEST(client_hello, reassembles_a_large_hello_over_many_records) {
  // A post-quantum sized key share and padding: about 9 KB, over 1 KB records.
  client_hello h;
  const auto wire = records(hello_msg(ext(51, std::string(1250, 'k')) + sni_ext("big.example.com") +
                                      ext(21, std::string(8000, '\0'))),
                            1000);
  ASSERT_EQ(parse_client_hello(wire + "trailing application bytes", h), hello_status::complete);
  EXPECT_EQ(h.sni, "big.example.com");
  EXPECT_EQ(h.wire_length, wire.size());
}

TEST(client_hello, no_extensions_means_no_sni) {
  client_hello h;
  ASSERT_EQ(parse_client_hello(records(hello_msg("")), h), hello_status::complete);
  EXPECT_TRUE(h.sni.empty());
  EXPECT_TRUE(h.alpn.empty());
}

TEST(client_hello, tells_other_protocols_apart) {
  client_hello h;
  EXPECT_EQ(parse_client_hello("GET / HTTP/1.1\r\n", h), hello_status::not_tls);
  EXPECT_EQ(parse_client_hello("\x16GET", h), hello_status::not_tls);
  EXPECT_EQ(parse_client_hello(std::string("\x16\x03\x09", 3), h), hello_status::not_tls);
  EXPECT_EQ(parse_client_hello("SSH-2.0-OpenSSH_9.2\r\n", h), hello_status::not_tls);
  EXPECT_EQ(parse_client_hello(std::string("\x16\x03", 2), h), hello_status::incomplete);
}

TEST(client_hello, refuses_malformed_hellos) {
  client_hello h;
  const auto good = hello_msg(sni_ext("a.example.com"));
  // A server hello (type 2), an alert record, zero-length and over-long records.
  auto server_hello = good;
  server_hello[0] = 2;
  EXPECT_EQ(parse_client_hello(records(server_hello), h), hello_status::malformed);
  EXPECT_EQ(parse_client_hello(records(good, 50).substr(0, 55) + std::string("\x15\x03\x03\x00\x02\x02\x28", 7), h),
            hello_status::malformed);
  EXPECT_EQ(parse_client_hello(std::string("\x16\x03\x01\x00\x00", 5), h), hello_status::malformed);
  EXPECT_EQ(parse_client_hello(std::string("\x16\x03\x01\x40\x01", 5), h), hello_status::malformed);
  // Names with a bad character, empty, or two host names.
  EXPECT_EQ(parse_client_hello(records(hello_msg(sni_ext("a b.example.com"))), h), hello_status::malformed);
  EXPECT_EQ(parse_client_hello(records(hello_msg(sni_ext(""))), h), hello_status::malformed);
  // Empty labels: ".example.com" must not pass for a name under "*.example.com".
  EXPECT_EQ(parse_client_hello(records(hello_msg(sni_ext(".example.com"))), h), hello_status::malformed);
  EXPECT_EQ(parse_client_hello(records(hello_msg(sni_ext("a..example.com"))), h), hello_status::malformed);
  EXPECT_EQ(parse_client_hello(records(hello_msg(sni_ext("."))), h), hello_status::malformed);
  // Found by the client_hello fuzzer: only one trailing dot is the root's.
  EXPECT_EQ(parse_client_hello(records(hello_msg(sni_ext("a.example.com.."))), h), hello_status::malformed);
  EXPECT_EQ(parse_client_hello(records(hello_msg(sni_ext(".."))), h), hello_status::malformed);
  const std::string two = std::string(1, '\0') + u16(1) + "a" + std::string(1, '\0') + u16(1) + "b";
  EXPECT_EQ(parse_client_hello(records(hello_msg(ext(0, u16(two.size()) + two))), h), hello_status::malformed);
  // The extension block longer than the message; two SNI extensions; an empty ALPN name.
  auto cut = hello_msg(sni_ext("a.example.com"));
  cut[3] = static_cast<char>(cut[3] - 1);
  EXPECT_EQ(parse_client_hello(records(cut.substr(0, cut.size() - 1)), h), hello_status::malformed);
  EXPECT_EQ(parse_client_hello(records(hello_msg(sni_ext("a.x") + sni_ext("b.x"))), h), hello_status::malformed);
  EXPECT_EQ(parse_client_hello(records(hello_msg(alpn_ext({""}))), h), hello_status::malformed);
  EXPECT_TRUE(h.sni.empty());
}

TEST(client_hello, bounds_its_size) {
  client_hello h;
  // A message announcing more than max_client_hello is refused from its header.
  const std::string huge = std::string("\x01\x00\x40\x00", 4) + std::string(100, 'x');
  EXPECT_EQ(parse_client_hello(records(huge), h), hello_status::too_large);
  // Tiny records whose headers pass the wire bound.
  const auto tiny = records(hello_msg(ext(21, std::string(6000, '\0'))), 1);
  EXPECT_EQ(parse_client_hello(tiny, h), hello_status::too_large);
  // Just under the limit is fine.
  const auto msg = hello_msg(sni_ext("max.example.com") + ext(21, std::string(16000, '\0')));
  ASSERT_LE(msg.size(), max_client_hello);
  EXPECT_EQ(parse_client_hello(records(msg, 8192), h), hello_status::complete);
  EXPECT_EQ(h.sni, "max.example.com");
}

// OpenSSL's own ClientHello (TLS 1.3, its default extensions) reads as sent.
TEST(client_hello, reads_what_openssl_sends) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  ASSERT_NE(ctx, nullptr);
  SSL* ssl = SSL_new(ctx);
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, rbio, wbio);
  SSL_set_tlsext_host_name(ssl, "www.Example.org");
  const unsigned char alpn[] = "\x02h2\x08http/1.1";
  SSL_set_alpn_protos(ssl, alpn, sizeof alpn - 1);
  SSL_set_connect_state(ssl);
  EXPECT_LE(SSL_do_handshake(ssl), 0);  // wants to read the server's answer
  char* data = nullptr;
  const long n = BIO_get_mem_data(wbio, &data);
  const std::string wire(data, static_cast<std::size_t>(n));
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  client_hello h;
  ASSERT_EQ(parse_client_hello(wire, h), hello_status::complete);
  EXPECT_EQ(h.sni, "www.example.org");
  EXPECT_TRUE(h.offers("h2"));
  EXPECT_EQ(h.wire_length, wire.size());
}

}  // namespace
}  // namespace lb::proto::tcp
