#include "lb/proto/http/relay.h"

#include <algorithm>
#include <charconv>

#include "lb/core/release_buffer.h"
#include "lb/proto/http/head_scan.h"

namespace lb::proto::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using asio::awaitable;
using io::error_code;

namespace {

std::string_view view(const beast::flat_buffer& b) { return {static_cast<const char*>(b.data().data()), b.size()}; }

awaitable<relay_result> relay_length(const relay_ends& e, std::uint64_t remaining, std::uint64_t& moved) {
  constexpr std::size_t max_read = runtime::buffer_pool::block_size;
  bool head_sent = false;
  for (;;) {
    if (e.in_buf.size() == 0 && remaining != 0) {
      e.owner.arm(e.deadline, e.read_timeout);
      // Never read past this message: what follows belongs to the next one.
      const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(remaining, max_read));
      const auto ec = co_await e.in.read(e.in_buf, want, head_sent);
      if (ec) co_return e.deadline.fired ? relay_result::timed_out : relay_result::in_error;
    }
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining, e.in_buf.size()));
    io::buffer_seq bufs;
    if (!head_sent) bufs.push(asio::buffer(e.head));
    bufs.push(asio::buffer(e.in_buf.data().data(), n));
    e.owner.arm(e.deadline, e.write_timeout);
    io::buffer_seq out = bufs;  // write_now() drops what it wrote; the tap below keeps all of bufs
    io::error_code ec;
    if (!e.out.write_now(out, ec)) ec = co_await e.out.write(out);
    // Bytes of a failed write stay in in_buf: the next attempt sends them.
    if (ec) co_return e.deadline.fired ? relay_result::out_timed_out : relay_result::out_error;
    if (e.tap) e.tap->keep(bufs, head_sent ? 0 : 1, n, n == remaining);
    head_sent = true;
    e.in_buf.consume(n);
    remaining -= n;
    moved += n;
    if (remaining == 0) co_return relay_result::ok;
  }
}

// Beast's relay pattern: parse at most a buffer of body, write it re-framed
// (with the head first), repeat. A slow writer stops the reads.
template <bool is_request>
awaitable<relay_result> relay_parsed(const relay_ends& e, parser<is_request>& p, framing f, std::uint64_t& moved) {
  runtime::borrowed_block chunk(e.buffers);
  constexpr std::size_t cap = decltype(chunk)::size();
  auto& body = p.get().body();
  bool head_sent = false;
  for (;;) {
    std::size_t produced = 0;
    if (!p.is_done()) {
      body.data = chunk.get();
      body.size = cap;
      for (;;) {
        if (e.in_buf.size() != 0) {
          error_code ec;
          const auto used = p.put(e.in_buf.data(), ec);
          e.in_buf.consume(used);
          moved += used;
          if (ec == bhttp::error::need_buffer) break;
          if (ec == bhttp::error::body_limit) co_return relay_result::in_too_large;
          if (ec && ec != bhttp::error::need_more) co_return relay_result::in_malformed;
          if (p.is_done() || body.size != cap) break;
          if (used != 0 && e.in_buf.size() != 0) continue;
        }
        e.owner.arm(e.deadline, e.read_timeout);
        auto ec = co_await e.in.read(e.in_buf, cap, true);
        if (ec == asio::error::eof) {
          // A close-delimited body ends here; any other framing is truncated.
          p.put_eof(ec);
          if (ec) co_return relay_result::in_error;
          break;
        }
        if (ec) co_return e.deadline.fired ? relay_result::timed_out : relay_result::in_error;
      }
      produced = cap - body.size;
    }
    const bool last = p.is_done();
    io::buffer_seq bufs;
    char size_line[20];
    frame_piece(bufs, size_line, head_sent ? nullptr : &e.head, f, chunk.get(), produced, last);
    // Kept before the write: the parser has taken these bytes from in_buf.
    if (e.tap) e.tap->keep(bufs, head_sent ? 0 : 1, produced, last);
    e.owner.arm(e.deadline, e.write_timeout);
    io::error_code ec;
    if (!e.out.write_now(bufs, ec)) ec = co_await e.out.write(bufs);
    head_sent = true;
    if (ec) co_return e.deadline.fired ? relay_result::out_timed_out : relay_result::out_error;
    if (last) co_return relay_result::ok;
  }
}

}  // namespace

namespace {

// One look at `buf` with `scanner`, which remembers how far earlier looks got.
std::optional<head_result> scan_step(head_scanner& scanner, beast::flat_buffer& buf, std::size_t limit,
                                     bool skip_empty_lines, std::size_t& length) {
  if (skip_empty_lines) {
    if (auto n = leading_empty_lines(view(buf))) buf.consume(n), scanner.reset();
  }
  switch (scanner.scan(view(buf))) {
    case head_scanner::state::complete:
      length = scanner.length();
      return length > limit ? head_result::too_large : head_result::complete;
    case head_scanner::state::malformed: return head_result::malformed;
    case head_scanner::state::need_more: break;
  }
  if (buf.size() > limit) return head_result::too_large;
  return std::nullopt;
}

}  // namespace

std::optional<head_result> scan_head(beast::flat_buffer& buf, std::size_t limit, bool skip_empty_lines,
                                     std::size_t& length) {
  head_scanner scanner;
  return scan_step(scanner, buf, limit, skip_empty_lines, length);
}

awaitable<head_result> read_head(io::stream& s, beast::flat_buffer& buf, std::size_t limit, std::size_t chunk,
                                 bool skip_empty_lines, bool ready, std::size_t& length,
                                 const runtime::io_deadline& deadline) {
  head_scanner scanner;
  for (;;) {
    if (const auto r = scan_step(scanner, buf, limit, skip_empty_lines, length)) co_return *r;
    const std::size_t want = std::max(chunk, buf.capacity() - buf.size());
    const auto ec = co_await s.read(buf, want, ready);
    ready = false;
    if (ec) {
      if (deadline.fired) co_return head_result::timed_out;
      co_return buf.size() == 0 ? head_result::closed : head_result::truncated;
    }
  }
}

template <bool is_request>
awaitable<relay_result> relay_body(const relay_ends& e, parser<is_request>& p, framing f, std::uint64_t& moved) {
  // Not a coroutine: it picks one and hands it back, costing no frame of its own.
  if (!p.chunked() && p.content_length())
    return relay_length(e, *p.content_length() - (e.tap ? e.tap->body_sent : 0), moved);
  return relay_parsed(e, p, f, moved);
}

template awaitable<relay_result> relay_body<true>(const relay_ends&, parser<true>&, framing, std::uint64_t&);
template awaitable<relay_result> relay_body<false>(const relay_ends&, parser<false>&, framing, std::uint64_t&);

void relay_tap::keep(io::buffer_seq& bufs, std::size_t skip, std::size_t body, bool last) {
  body_sent += body;
  ended = last;
  if (lost) return;
  std::size_t n = 0;
  for (std::size_t i = skip; i < bufs.size(); ++i) n += bufs.data()[i].size();
  if (sent.size() + n > cap) {
    lost = true;
    release_buffer(sent);
    return;
  }
  for (std::size_t i = skip; i < bufs.size(); ++i)
    sent.append(static_cast<const char*>(bufs.data()[i].data()), bufs.data()[i].size());
}

void frame_piece(io::buffer_seq& bufs, char (&size_line)[20], const std::string* head, framing f, const char* data,
                 std::size_t n, bool last) {
  if (head) bufs.push(asio::buffer(*head));
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
}

awaitable<error_code> write_piece(io::stream& s, const std::string* head, framing f, const char* data, std::size_t n,
                                  bool last) {
  io::buffer_seq bufs;
  char size_line[20];
  frame_piece(bufs, size_line, head, f, data, n, last);
  co_return co_await s.write(bufs);
}

}  // namespace lb::proto::http
