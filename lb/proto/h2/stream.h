#pragma once
// One HTTP/2 request stream: its header block as received, its request body
// while it arrives, the response body piece waiting for the client's window,
// and the coroutine that forwards it (run()).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include "lb/proto/h2/request_head.h"
#include "lb/proto/http/exchange.h"
#include "lb/proto/http/forwarder.h"

namespace lb::proto::h2 {

class session;

struct stream {
  stream(session& s, std::int32_t id);

  // Header block storage: names and values side by side; `rq` views into it
  // once the block ends (the string no longer grows then).
  struct span {
    std::uint32_t name_at, name_len, value_at, value_len;
  };
  // A browser's block (without cookies) is a few hundred bytes in 10-20 fields.
  static constexpr std::size_t header_block_reserve = 512;
  static constexpr std::size_t header_spans_reserve = 24;
  void add_field(std::string_view name, std::string_view value);
  void seal_fields();  // builds `rq` from the stored block

  // Wakes the stream's coroutine (data, end, window, close).
  void wake() { event.cancel(); }
  boost::asio::awaitable<void> wait();

  session& owner;
  const std::int32_t id;
  std::string block;
  std::vector<span> spans;
  std::size_t decoded_bytes = 0;  // RFC 9113 §6.5.2's size of the header list
  bool too_large = false;         // past max_header_bytes or max_header_fields: answered 431
  request_fields rq;
  std::vector<std::pair<std::string, std::string>> trailers;  // the client's, for a chunked upload
  bool started = false;

  // Request body from the client, not yet written upstream.
  std::string body_in;
  bool body_ended = false;  // END_STREAM received
  bool upload_aborted = false;  // the forwarder gave up on the upload
  // Body bytes received (DATA payload); past the listener's max_body_bytes
  // the rest is dropped and the exchange answered 413.
  std::uint64_t body_received = 0;
  std::uint64_t body_limit = 0;  // once routed, the route's (http::body_limit); before, 0: the listener's
  bool body_too_large = false;

  // Response body piece offered to the session (the data callback copies from it).
  const char* out_data = nullptr;
  std::size_t out_len = 0;
  std::size_t out_off = 0;
  bool out_last = false;
  bool out_trailers = false;  // trailers follow the last DATA frame
  bool eof_sent = false;

  // lb's response went out whole while the client's side is still open: its
  // DATA is dropped (the window given back) until it ends the stream, or
  // `linger` fires (no DATA for a while) and lb resets it with NO_ERROR.
  bool answered = false;
  std::size_t lingered = 0;  // DATA bytes dropped since
  io::deadline linger;

  bool closed = false;  // nghttp2 closed the stream (reset or done)
  // The coroutine is done. The stream outlives it until nghttp2 closes it:
  // the codec's user data and data source still point here (the END_STREAM
  // lb sent is serialized, and the stream closed, on a later send).
  bool finished = false;
  http::exchange ex;
  boost::asio::steady_timer event;
};

// Thread: owning worker. Forwards the stream's request and relays the answer.
boost::asio::awaitable<void> run(std::shared_ptr<session> s, std::shared_ptr<stream> st);

}  // namespace lb::proto::h2
