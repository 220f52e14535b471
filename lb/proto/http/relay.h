#pragma once
// Moving HTTP/1 bytes between two streams: reading a message head, and
// relaying a message body after its head, in whatever framing the next hop
// gets. Bodies pass through one borrowed block at a time, so memory is bounded
// whatever the body size and a slow writer slows the reader (back-pressure).

#include <cstdint>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "lb/config/config.h"
#include "lb/io/stream.h"
#include "lb/proto/http/message.h"
#include "lb/proto/http/rewrite.h"
#include "lb/runtime/session_base.h"
#include "lb/runtime/worker.h"

namespace lb::proto::http {

enum class head_result { complete, closed, truncated, malformed, too_large, timed_out };

// `timed_out`: a read took longer than its timeout; `out_timed_out`: a write.
enum class relay_result { ok, in_error, in_malformed, in_too_large, out_error, timed_out, out_timed_out };

// Thread: any. Whether `buf` already holds a whole head (`complete`, with
// its `length`), one that can never be valid (`malformed`, `too_large`), or
// nullopt: more bytes are needed. The usual case, a head that arrived in one
// read, is answered here without the cost of a coroutine.
std::optional<head_result> scan_head(boost::beast::flat_buffer& buf, std::size_t limit, bool skip_empty_lines,
                                     std::size_t& length);

// Thread: worker. Reads a message head into `buf` (which may already hold
// part of it), at most `limit` bytes, reading `chunk` bytes at a time (more
// when the buffer has room). `skip_empty_lines`: CRLFs before a request line
// are ignored (RFC 9112 §2.2). `ready`: the stream is known to be readable.
// On `complete`, `length` is the head's length in `buf`. An error after
// `deadline` fired is `timed_out`.
boost::asio::awaitable<head_result> read_head(io::stream& s, boost::beast::flat_buffer& buf, std::size_t limit,
                                              std::size_t chunk, bool skip_empty_lines, bool ready,
                                              std::size_t& length, const runtime::io_deadline& deadline);

// A request body as a relay wrote it upstream, kept while it fits `cap`
// bytes: an HTTP/2 endpoint may refuse the stream unprocessed after lb took
// part of the body from the client, and the request is then sent again.
struct relay_tap {
  std::size_t cap = 0;         // 0: nothing is kept (an upstream that cannot refuse)
  std::string sent;            // what was written after the head, framing included
  std::uint64_t body_sent = 0; // body bytes written (a sized body's offset)
  bool ended = false;          // the body's end is written (and in `sent`)
  bool lost = false;           // something written is not in `sent`: no replay

  // `bufs` as written (or about to be), its first `skip` buffers not kept
  // (the head); `body` of its bytes are body, `last` when they end it.
  void keep(io::buffer_seq& bufs, std::size_t skip, std::size_t body, bool last);
};

// The two ends of one body relay and its timing.
struct relay_ends {
  io::stream& in;
  boost::beast::flat_buffer& in_buf;  // bytes read from `in`, not yet relayed
  io::stream& out;
  const std::string& head;  // written before the first body bytes, in the same write
  config::duration read_timeout;
  config::duration write_timeout;
  runtime::session_base& owner;  // arms `deadline` before each read and write
  runtime::io_deadline& deadline;
  runtime::buffer_pool& buffers;
  // Keeps what is written, and says where a sized body resumes; null: none.
  relay_tap* tap = nullptr;
};

// Thread: worker. Streams the body `p` is parsing from `e.in` to `e.out`,
// after `e.head`. A Content-Length body goes from the read buffer to the
// stream as it is (no parsing, no copy); a chunked or close-delimited one
// through the parser (it must be decoded and validated to be re-framed in
// `f`). `moved` counts body bytes taken from `e.in`. With `e.tap`, the
// relay resumes after what the tap says was written (a replay sends that).
template <bool is_request>
boost::asio::awaitable<relay_result> relay_body(const relay_ends& e, parser<is_request>& p, framing f,
                                                std::uint64_t& moved);

// Gathers one piece of a body in `f`'s framing into `bufs`, after `head` when
// set; `size_line` holds a chunk's size line and must outlive the write.
void frame_piece(io::buffer_seq& bufs, char (&size_line)[20], const std::string* head, framing f, const char* data,
                 std::size_t n, bool last);

// Thread: worker. Writes one piece of a body in `f`'s framing, preceded by
// `head` when set (so a small message leaves in one write) and followed by the
// last-chunk when `last`.
boost::asio::awaitable<io::error_code> write_piece(io::stream& s, const std::string* head, framing f,
                                                   const char* data, std::size_t n, bool last);

}  // namespace lb::proto::http
