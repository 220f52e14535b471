#include "lb/control/probe.h"

#include <iostream>
#include <optional>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

namespace lb::control {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

namespace {

struct url_parts {
  std::string host, port, target;
};

std::optional<url_parts> parse_url(const std::string& url) {
  constexpr std::string_view scheme = "http://";
  if (url.compare(0, scheme.size(), scheme) != 0) return std::nullopt;
  const std::string rest = url.substr(scheme.size());
  const auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  url_parts p{.host = {}, .port = "80", .target = slash == std::string::npos ? "/" : rest.substr(slash)};
  if (!authority.empty() && authority.front() == '[') {  // [v6]:port
    const auto close = authority.find(']');
    if (close == std::string::npos) return std::nullopt;
    p.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return std::nullopt;
      p.port = authority.substr(close + 2);
    }
  } else if (const auto colon = authority.rfind(':'); colon != std::string::npos) {
    p.host = authority.substr(0, colon);
    p.port = authority.substr(colon + 1);
  } else {
    p.host = authority;
  }
  if (p.host.empty() || p.port.empty()) return std::nullopt;
  return p;
}

}  // namespace

int probe(const std::string& url, std::chrono::milliseconds timeout) {
  const auto parts = parse_url(url);
  if (!parts) {
    std::cerr << "lb: --probe: expected http://HOST[:PORT][/PATH], got '" << url << "'\n";
    return 1;
  }
  asio::io_context io;
  beast::tcp_stream stream(io);
  bhttp::request<bhttp::empty_body> req{bhttp::verb::get, parts->target, 11};
  req.set(bhttp::field::host, parts->host);
  req.set(bhttp::field::user_agent, "lb-probe");
  req.set(bhttp::field::connection, "close");
  beast::flat_buffer buf;
  bhttp::response<bhttp::string_body> res;
  std::string failed;  // which step failed, and why
  auto fail = [&](const char* step, beast::error_code ec) { failed = std::string(step) + ": " + ec.message(); };

  // One deadline for the whole exchange: tcp_stream re-arms it per operation.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  tcp::resolver resolver(io);
  resolver.async_resolve(parts->host, parts->port, [&](beast::error_code ec, tcp::resolver::results_type eps) {
    if (ec) return fail("resolve", ec);
    stream.expires_at(deadline);
    stream.async_connect(eps, [&](beast::error_code ec, const tcp::endpoint&) {
      if (ec) return fail("connect", ec);
      stream.expires_at(deadline);
      bhttp::async_write(stream, req, [&](beast::error_code ec, std::size_t) {
        if (ec) return fail("write", ec);
        stream.expires_at(deadline);
        bhttp::async_read(stream, buf, res, [&](beast::error_code ec, std::size_t) {
          if (ec) return fail("read", ec);
        });
      });
    });
  });
  io.run_for(timeout + std::chrono::milliseconds(100));
  if (failed.empty() && res.result_int() == 0) failed = "timed out";
  if (!failed.empty()) {
    std::cerr << "lb: probe " << url << ": " << failed << '\n';
    return 1;
  }
  const unsigned code = res.result_int();
  if (code < 200 || code > 299) {
    std::cerr << "lb: probe " << url << ": HTTP " << code << '\n';
    return 1;
  }
  return 0;
}

}  // namespace lb::control
