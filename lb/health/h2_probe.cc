#include "lb/health/h2_probe.h"

#include <openssl/ssl.h>

#include <charconv>

#include <boost/asio/this_coro.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "lb/connpool/h2_stream.h"
#include "lb/io/socket_stream.h"

namespace lb::health::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;

namespace {

// A health answer is a few bytes; this bounds a broken endpoint.
constexpr std::size_t max_response = 64 * 1024;

const char* serving_name(int s) {
  switch (s) {
    case 0: return "UNKNOWN";
    case 1: return "SERVING";
    case 2: return "NOT_SERVING";
    case 3: return "SERVICE_UNKNOWN";
    default: return "unreadable";
  }
}

// A protobuf varint at `p`; false past `end` or beyond 64 bits.
bool read_varint(const unsigned char*& p, const unsigned char* end, std::uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (p == end) return false;
    const unsigned char b = *p++;
    v |= std::uint64_t{b & 0x7fu} << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

}  // namespace

std::string grpc_health_request(const std::string& service) {
  std::string msg;
  if (!service.empty()) {  // field 1 (service), length-delimited
    msg.push_back('\x0a');
    for (auto n = service.size(); ; n >>= 7) {
      if (n < 0x80) {
        msg.push_back(static_cast<char>(n));
        break;
      }
      msg.push_back(static_cast<char>((n & 0x7f) | 0x80));
    }
    msg.append(service);
  }
  // gRPC message framing: uncompressed, 4-byte big-endian length.
  const auto n = static_cast<std::uint32_t>(msg.size());
  std::string out{'\0', static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                  static_cast<char>(n)};
  return out + msg;
}

int grpc_serving_status(std::string_view body) {
  if (body.size() < 5 || body[0] != 0) return -1;  // compressed answers are not asked for
  const auto* p = reinterpret_cast<const unsigned char*>(body.data());
  const std::uint32_t len = (std::uint32_t{p[1]} << 24) | (std::uint32_t{p[2]} << 16) | (std::uint32_t{p[3]} << 8) | p[4];
  if (body.size() != 5 + std::size_t{len}) return -1;
  p += 5;
  const auto* end = p + len;
  int status = 0;  // proto3: an absent field is its default, UNKNOWN
  while (p != end) {
    std::uint64_t key = 0, v = 0;
    if (!read_varint(p, end, key)) return -1;
    switch (key & 7) {
      case 0:
        if (!read_varint(p, end, v)) return -1;
        if ((key >> 3) == 1) status = static_cast<int>(v);
        break;
      case 1:
        if (end - p < 8) return -1;
        p += 8;
        break;
      case 2:
        if (!read_varint(p, end, v) || v > static_cast<std::uint64_t>(end - p)) return -1;
        p += v;
        break;
      case 5:
        if (end - p < 4) return -1;
        p += 4;
        break;
      default: return -1;
    }
  }
  return status;
}

asio::awaitable<outcome> exchange_h2(check_io& io, const config::health_check& hc, const std::string& host,
                                     const tls::client_context* tls, const std::string& tls_host) {
  auto& ctx = static_cast<asio::io_context&>(io.sock.get_executor().context());
  auto raw = std::make_unique<io::socket_stream>(std::move(io.sock));
  std::unique_ptr<io::stream> s;
  if (!tls) {
    s = std::move(raw);
  } else {
    ssl_st* ssl = tls->new_ssl(tls_host, nullptr);
    if (!ssl) co_return outcome{false, "tls setup failed"};
    io.tls = std::make_unique<io::tls_stream>(std::move(raw), ssl);
    if (co_await io.tls->handshake()) {
      const auto why = tls::classify_failure(ssl);
      io.close();
      co_return outcome{false, std::string(why.reason)};
    }
    const unsigned char* alpn = nullptr;
    unsigned alpn_len = 0;
    SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
    if (std::string_view(reinterpret_cast<const char*>(alpn), alpn_len) != "h2") {
      io.close();
      co_return outcome{false, "h2 not negotiated (ALPN)"};
    }
    s = std::move(io.tls);
  }
  io.h2 = std::make_shared<connpool::h2_connection>(ctx, std::move(s), nullptr, tls != nullptr, 1);
  io.h2->start();
  auto st = io.h2->open_stream();

  const bool grpc = hc.type == config::health_check::kind::grpc;
  std::string req;
  if (grpc) {
    const auto body = grpc_health_request(hc.service);
    req = "POST /grpc.health.v1.Health/Check HTTP/1.1\r\nhost: " + host +
          "\r\ncontent-type: application/grpc\r\nuser-agent: lb-health-check\r\ncontent-length: " +
          std::to_string(body.size()) + "\r\n\r\n" + body;
  } else {
    req = "GET " + hc.path + " HTTP/1.1\r\nhost: " + host + "\r\nuser-agent: lb-health-check\r\n\r\n";
  }
  if (co_await st->write(asio::buffer(req))) {
    io.close();
    co_return outcome{false, "send failed"};
  }
  beast::flat_buffer buf;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.header_limit(max_response);
  parser.body_limit(max_response);
  if (!grpc) parser.skip(true);  // the head is all an http check wants
  parser.eager(true);
  boost::system::error_code ec;
  while (grpc ? !parser.is_done() : !parser.is_header_done()) {
    if (const auto rec = co_await st->read(buf, 16 * 1024, true)) {
      io.close();
      co_return outcome{false, rec == asio::error::eof ? "closed before response" : "reset before response"};
    }
    buf.consume(parser.put(buf.data(), ec));
    if (ec == bhttp::error::need_more) ec = {};
    if (ec) {
      io.close();
      co_return outcome{false, "invalid response: " + ec.message()};
    }
  }
  st->close();
  io.h2->retire();
  const unsigned status = parser.get().result_int();
  if (!grpc) {
    const bool ok = status >= hc.expect_status_min && status <= hc.expect_status_max;
    co_return outcome{ok, "status " + std::to_string(status)};
  }
  if (status != 200) co_return outcome{false, "status " + std::to_string(status)};
  // grpc-status: in the trailers, or in the head of a trailers-only answer.
  std::string_view grpc_status;
  for (const auto& f : parser.get())
    if (beast::iequals(f.name_string(), "grpc-status")) grpc_status = f.value();
  if (grpc_status != "0") {
    co_return outcome{false, grpc_status.empty() ? std::string("no grpc-status")
                                                  : "grpc-status " + std::string(grpc_status)};
  }
  const int serving = grpc_serving_status(parser.get().body());
  co_return outcome{serving == 1, std::string("serving status ") + serving_name(serving)};
}

}  // namespace lb::health::detail
