#include "lb/proto/http/socket_io.h"

#include <charconv>
#include <span>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace lb::proto::http {

namespace asio = boost::asio;
using boost::system::error_code;
using tcp = asio::ip::tcp;

asio::awaitable<error_code> read_more(tcp::socket& s, boost::beast::flat_buffer& buf, std::size_t want,
                                      bool try_first) {
  error_code ec;
  if (try_first) {
    const auto n = s.read_some(buf.prepare(want), ec);
    if (ec != asio::error::would_block) {
      buf.commit(n);
      co_return ec;
    }
    ec = {};
  }
  const auto n = co_await s.async_read_some(buf.prepare(want), asio::redirect_error(asio::use_awaitable, ec));
  buf.commit(n);
  co_return ec;
}

asio::awaitable<error_code> write_all(tcp::socket& s, buffer_seq seq) {
  asio::const_buffer* const bufs = seq.data();
  const std::size_t count = seq.size();
  std::size_t first = 0;
  error_code ec;
  for (;;) {
    while (first < count && bufs[first].size() == 0) ++first;
    if (first == count) co_return error_code{};
    auto n = s.write_some(std::span<const asio::const_buffer>(bufs + first, count - first), ec);
    if (ec && ec != asio::error::would_block) co_return ec;
    for (; n != 0; ++first) {
      if (n < bufs[first].size()) {
        bufs[first] += n;
        break;
      }
      n -= bufs[first].size();
    }
    if (ec == asio::error::would_block) {
      co_await s.async_wait(tcp::socket::wait_write, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return ec;
    }
  }
}

asio::awaitable<error_code> write_piece(tcp::socket& s, const std::string* head, framing f, const char* data,
                                        std::size_t n, bool last) {
  buffer_seq bufs;
  if (head) bufs.push(asio::buffer(*head));
  char size_line[20];
  if (f == framing::chunked && n != 0) {
    char* end = std::to_chars(size_line, size_line + sizeof size_line - 2, n, 16).ptr;
    *end++ = '\r';
    *end++ = '\n';
    bufs.push(asio::buffer(size_line, static_cast<std::size_t>(end - size_line)));
    bufs.push(asio::buffer(data, n));
    bufs.push(asio::buffer("\r\n", 2));
  } else if (n != 0) {
    bufs.push(asio::buffer(data, n));
  }
  if (f == framing::chunked && last) bufs.push(asio::buffer("0\r\n\r\n", 5));
  co_return co_await write_all(s, bufs);
}

}  // namespace lb::proto::http
