#pragma once
// One request to an HTTP/2 upstream, seen by the forwarder as a byte stream
// that speaks HTTP/1.1: it writes the request head lb built for the route and
// the body in HTTP/1.1 framing, and reads back an HTTP/1.1 response. The
// stream translates at its edges:
// - request: the head (Beast's parser) becomes a HEADERS frame (:method,
//   :scheme, :authority from Host, :path; no connection-specific fields,
//   RFC 9113 §8.2.2; `te: trailers` for gRPC), the body DATA frames, chunked
//   trailers a trailing HEADERS frame;
// - response: the HEADERS frame becomes a status line and fields, the body
//   keeps the endpoint's content-length or, without one, is chunked so that
//   trailers (gRPC's grpc-status) reach the client.
// So one forwarder (retries, timeouts, balancers, access log) and one relay
// per client protocol serve both upstream protocols; the cost is a head
// serialized and parsed once more per request, against an h2 exchange that
// costs far more in framing and HPACK.
//
// Flow control follows the reader both ways: the stream's receive window is
// given back only as the forwarder reads the response, and write() returns
// only once the codec has taken the body bytes.

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>

#include "lb/io/stream.h"

namespace lb::connpool {

class h2_connection;

class h2_stream final : public io::stream {
 public:
  explicit h2_stream(std::shared_ptr<h2_connection> c);
  ~h2_stream() override;

  boost::asio::awaitable<io::error_code> read(boost::beast::flat_buffer& buf, std::size_t want, bool) override;
  boost::asio::awaitable<io::error_code> read_some(boost::asio::mutable_buffer b, std::size_t& n) override;
  boost::asio::awaitable<io::error_code> write(io::buffer_seq bufs) override;
  void shutdown_send() override {}  // the request's framing says where it ends
  void cancel() override;
  // Before the response ended: RST_STREAM (CANCEL). The connection goes on.
  void close() override;
  bool is_open() const override { return !detached_; }
  int native_handle() override { return -1; }  // no descriptor of its own
  io::released release() override {
    close();
    return {};
  }
  // Never parked: a finished stream is closed, its connection stays pooled.
  void wait_readable(std::function<void(io::error_code)> h) override;

  // --- for the connection's codec callbacks (thread: owning) ---
  std::int32_t id() const { return id_; }
  void on_field(std::string_view name, std::string_view value);
  void on_head_end(bool end_stream);
  void on_data(const std::uint8_t* data, std::size_t len);
  void on_end_stream();
  // `error_code`: the RST_STREAM or GOAWAY code (NO_ERROR when the stream ended).
  void on_close(std::uint32_t error_code);
  bool unprocessed() const override { return refused_; }
  // nghttp2's data source for the request body.
  ssize_t pull(std::uint8_t* buf, std::size_t length, std::uint32_t* flags);

 private:
  bool feed(const char* data, std::size_t n);  // false: the head cannot be sent
  bool submit_head();
  void submit_trailers();
  void detach();
  void wake();  // both directions
  // Waits for `event` to be woken; false: cancel() was called meanwhile.
  boost::asio::awaitable<bool> wait(boost::asio::steady_timer& event);

  std::shared_ptr<h2_connection> conn_;
  std::int32_t id_ = -1;  // -1: HEADERS not submitted yet
  // Request side.
  boost::beast::http::request_parser<boost::beast::http::buffer_body> req_;
  std::string in_;   // written bytes the parser has not taken yet
  std::string out_;  // body bytes for DATA frames, from out_off_
  std::size_t out_off_ = 0;
  std::size_t head_fields_ = 0;  // fields in the head: more once parsed are trailers
  bool body_done_ = false;
  bool head_method_ = false;
  // Response side.
  std::string rx_;  // the HTTP/1.1 response as far as it came, from rx_off_
  std::size_t rx_off_ = 0;
  std::size_t unconsumed_ = 0;  // DATA bytes whose window is not given back yet
  std::string fields_;          // "name: value\r\n" of the HEADERS block being received
  unsigned status_ = 0;
  bool has_length_ = false;
  bool final_ = false;    // the final (non-1xx) head came
  bool chunked_ = false;  // the body is chunked for the forwarder
  bool ended_ = false;    // END_STREAM received
  bool reset_ = false;    // reset or the connection failed before END_STREAM
  bool codec_closed_ = false;  // nghttp2 closed the stream (or the connection failed)
  bool refused_ = false;       // closed unprocessed: safe to send again
  bool detached_ = false;      // closed: let go of the connection
  std::uint64_t cancels_ = 0;  // cancel() count: a wait that sees it move was cancelled
  // The upload (write) and the forwarder (read) wait at once, each on its own
  // timer: re-arming one timer would wake the other waiter, and so on forever.
  boost::asio::steady_timer rd_event_;
  boost::asio::steady_timer wr_event_;
};

}  // namespace lb::connpool
